"""bf16 matrix multiplies, fp32 everything else: the fast scoring path on hardware with native bf16.

Why not simply ``model.to(torch.bfloat16)``: a whole-model bf16 copy also rounds the residual stream, the
norms and the softmax inputs, and on 384 rotten_tomatoes snippets SmolLM2's entropies then moved by 0.064
nats on average (Spearman 0.997 vs fp32, 0.988 on a 48-snippet sample). Rounding only the operands of the
Linear layers, with fp32 outputs added to an fp32 residual stream, moved them by 0.007 nats (Spearman 0.9998)
at the same speed: the matmuls are where the time goes (bench/RESULTS.md). The same holds for the MiniLM
encoder (cosine to the fp32 embedding >= 0.9999).
"""

from __future__ import annotations

import torch
from torch.nn import functional


def native_bf16(device: str) -> bool:
    """True when ``device`` multiplies bf16 natively (CUDA Ampere+, CPUs with AVX512-BF16 or AMX).

    Elsewhere bf16 is emulated and slower than fp32 (docs/performance.md), so ``auto`` precision stays fp32.
    """
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private but stable since torch 2.3
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


class Bf16MatmulLinear(torch.nn.Module):
    """A Linear layer that multiplies in bf16 and returns fp32 (bias added in fp32)."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = torch.nn.Parameter(linear.weight.detach().to(torch.bfloat16), requires_grad=False)
        bias = linear.bias
        self.bias = None if bias is None else torch.nn.Parameter(bias.detach().float(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = functional.linear(x.to(torch.bfloat16), self.weight).float()
        return out if self.bias is None else out + self.bias


def use_bf16_matmuls(model: torch.nn.Module) -> int:
    """Replace every ``nn.Linear`` under ``model`` (in place) by :class:`Bf16MatmulLinear`; returns how many.

    Call on an fp32 model. A head tied to the input embeddings gets its own bf16 copy while the embedding
    table stays fp32; ``config.tie_word_embeddings`` is cleared so transformers does not re-tie them.
    """
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(parent, name, Bf16MatmulLinear(child))
                replaced += 1
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "tie_word_embeddings", False):
        config.tie_word_embeddings = False
    return replaced


class FusedRMSNorm(torch.nn.Module):
    """An RMSNorm as one ``functional.rms_norm`` kernel: the same fp32 arithmetic as the Llama-family module's six
    element-wise steps (float, pow, mean, add, rsqrt, two muls), without their temporaries."""

    def __init__(self, weight: torch.nn.Parameter, eps: float):
        super().__init__()
        self.weight, self.eps = weight, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.rms_norm(x.float(), (self.weight.shape[-1],), self.weight.float(), self.eps)


def use_fused_rms_norms(model: torch.nn.Module) -> int:
    """Replace every Llama-family RMSNorm (a ``weight`` and a ``variance_epsilon``) under ``model`` in place by
    :class:`FusedRMSNorm`; returns how many. Only for fp32 activations (the scoring copies)."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child).__name__.endswith("RMSNorm") and hasattr(child, "variance_epsilon"):
                setattr(parent, name, FusedRMSNorm(child.weight, child.variance_epsilon))
                replaced += 1
    return replaced


class FusedGateUpMLP(torch.nn.Module):
    """A gated MLP (``down(act(gate(x)) * up(x))``) whose gate and up projections are one bf16 matmul: the input
    is rounded to bf16 once instead of twice, and the matmul is twice as wide."""

    def __init__(self, mlp: torch.nn.Module):
        super().__init__()
        gate, up = mlp.gate_proj, mlp.up_proj
        self.weight = torch.nn.Parameter(torch.cat([gate.weight, up.weight]), requires_grad=False)
        self.intermediate = gate.out_features
        self.down_proj, self.act_fn = mlp.down_proj, mlp.act_fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate_up = functional.linear(x.to(torch.bfloat16), self.weight).float()  # (..., 2 * intermediate)
        gate, up = gate_up.split(self.intermediate, dim=-1)
        return self.down_proj(self.act_fn(gate).mul_(up))


def use_fused_gate_up(model: torch.nn.Module) -> int:
    """Replace every gated MLP whose gate and up projections are bias-free :class:`Bf16MatmulLinear` layers by
    :class:`FusedGateUpMLP` (in place); returns how many. Call after :func:`use_bf16_matmuls`."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            parts = [getattr(child, a, None) for a in ("gate_proj", "up_proj", "down_proj", "act_fn")]
            if all(p is not None for p in parts) and all(
                isinstance(p, Bf16MatmulLinear) and p.bias is None for p in parts[:2]
            ):
                setattr(parent, name, FusedGateUpMLP(child))
                replaced += 1
    return replaced

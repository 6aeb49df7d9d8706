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

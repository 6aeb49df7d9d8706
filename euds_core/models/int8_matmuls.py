"""int8 matrix multiplies, fp32 everything else: the fast scoring path on CPUs with VNNI/AMX but no native bf16.

Each ``nn.Linear`` becomes :class:`Int8MatmulLinear`: weights int8 per output channel, activations quantised
per row (per token) at run time, ``torch._int_mm`` (int8 x int8 -> int32, oneDNN's VNNI/AMX kernels) and an
fp32 rescale; norms, attention, softmax and the entropy stay fp32. Two measured fixes make it rank like fp32
where plain dynamic quantisation did not (SmolLM2 on 128 rotten_tomatoes snippets, Spearman of the entropy
vs fp32: torch.ao per-tensor activations 0.785, per-token activations 0.986, + smoothing 0.994, + a second
pass on the residual of the worst layers 0.995, bench/RESULTS.md):

- *Smoothing* (SmoothQuant, alpha 0.5): a few input channels carry outliers 10-400x the median, so one
  per-row scale wastes most of the 8 bits. Each channel j is divided by ``s_j = max|x_j|^a / max|W_j|^(1-a)``
  and W's column j multiplied by it (the product is unchanged); the maxima come from a fixed calibration
  text (:data:`CALIBRATION_TEXTS`), never from the data being scored, so scores do not depend on the pool.
- *A residual pass* for layers whose single-pass output error on the calibration text is above
  :data:`RESIDUAL_PASS_ERROR` (in SmolLM2 the MLP down projections, ~3 % vs ~1 % elsewhere): the rounding
  residual of the activation is quantised again and multiplied too, ~16-bit activations at twice the cost.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# Part of the cache key of every int8 score (models.loading / scores.generative): bump when anything below
# that changes the numbers changes (texts, alpha, the residual rule).
INT8_VERSION = "int8-smooth-v1"
SMOOTHING_ALPHA = 0.5  # alpha 0.3 / 0.7 were no better end to end on SmolLM2 (0.7: 0.989 vs 0.994)
RESIDUAL_PASS_ERROR = 0.02  # relative RMS output error of one int8 pass above which a layer gets a second pass
INT8_MAX = 127

# Generic English of several registers (news, reviews, Q&A, code, dialogue): enough to find a model's
# outlier channels, which are a property of the weights more than of the text.
CALIBRATION_TEXTS = (
    "The committee met on Tuesday to discuss the budget for next year, and most members agreed to delay the vote.",
    "I loved this film: the acting is superb, the story moves quickly and the ending made me cry.",
    "Add the flour slowly, stirring all the time, until the sauce is thick and smooth.",
    "Shares in the company fell by 4% after it warned that profits would be lower than expected.",
    "What is the capital of Australia? The capital of Australia is Canberra, not Sydney.",
    "The new phone has a larger screen, a faster processor and a battery that lasts two days.",
    "She scored twice in the second half as United won 3-1 to move top of the league.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "A dull, lifeless remake that adds nothing to the original and wastes a talented cast.",
    "Hi! How are you doing today? I'm fine, thanks for asking.",
    "The treaty was signed in 1648, ending thirty years of war in central Europe.",
    "Temperatures will drop sharply overnight, with frost likely in rural areas.",
    "The minister said the government would publish its plans for schools in the spring.",
    "Quantum computers use qubits, which can represent both 0 and 1 at the same time.",
    "Please send the report by Friday; we need it for the meeting with the board.",
)


# Held out from the calibration: ``auto`` takes the int8 path for an LM only when, on these texts, its next-token
# entropies rank like fp32's (auto_choice.measure_lm_paths). Same registers, other sentences.
CHECK_TEXTS = (
    "The council approved the new bus routes after months of complaints from residents.",
    "A warm, funny and surprisingly moving story about two brothers on a road trip.",
    "Preheat the oven, grease the tin and bake the cake for forty minutes.",
    "The central bank left interest rates unchanged, citing uncertainty about inflation.",
    "Who wrote Pride and Prejudice? It was written by Jane Austen and published in 1813.",
    "The laptop is light and quiet, but the keyboard feels cheap and the screen is dim.",
    "The visitors equalised in the last minute to earn a deserved point away from home.",
    "for item in items:\n    if item.price > 10:\n        print(item.name)",
    "Volcanoes form where molten rock rises through cracks in the Earth's crust.",
    "Tedious and overlong; even the usually reliable lead seems bored by the script.",
    "Thanks so much for the help yesterday! Let me know if you need anything.",
    "The empire collapsed in the fifth century after a series of invasions.",
)
# fp32 vs int8 next-token entropies on CHECK_TEXTS (213 SmolLM2 tokens): SmolLM2 0.997. On the calibration text,
# int8 without smoothing or residual passes (per-sample Spearman 0.986 on snippets) gave 0.986, i.e. it would fail.
TOKEN_SPEARMAN_BAR = 0.99


def native_int8(device: str) -> bool:
    """True when ``device`` is a CPU with int8 dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX)."""
    if device.startswith("cuda"):
        return False  # the int8 path is CPU-only: CUDA has native bf16 where it matters
    cpu = torch.cpu
    checks = ("_is_vnni_supported", "_is_amx_tile_supported")  # private but stable since torch 2.3
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def cpu_kernel_flags() -> str:
    """The CPU features that decide the scoring kernels, e.g. ``AVX512 VNNI AVX512-BF16`` (for bench lines)."""
    cpu = torch.cpu
    names = {
        "_is_avx512_supported": "AVX512",
        "_is_vnni_supported": "VNNI",
        "_is_avx512_bf16_supported": "AVX512-BF16",
        "_is_amx_tile_supported": "AMX",
    }
    found = [label for name, label in names.items() if bool(getattr(cpu, name, lambda: False)())]
    if not found and bool(getattr(cpu, "_is_avx2_supported", lambda: False)()):
        found = ["AVX2"]
    return " ".join(found) or "no AVX2"


def quantise_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rounded values as float, (rows, 1) scales): symmetric int8 per row, ``x ~= rounded * scale``."""
    scale = x.abs().amax(1, keepdim=True).clamp_(min=1e-12).div_(INT8_MAX)  # (M, 1)
    return torch.div(x, scale).round_(), scale


class Int8MatmulLinear(torch.nn.Module):
    """A Linear layer that multiplies in int8 (per-row activations, per-channel weights) and returns fp32.

    ``input_absmax`` (K,) turns on smoothing with ``alpha``; ``residual_pass`` multiplies the activation's
    rounding residual too (see the module docstring).
    """

    def __init__(
        self,
        linear: torch.nn.Linear,
        input_absmax: torch.Tensor | None = None,
        alpha: float = SMOOTHING_ALPHA,
        residual_pass: bool = False,
    ):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach().float()  # (N, K)
        inverse_smoothing = None
        if input_absmax is not None and alpha > 0:
            weight_absmax = weight.abs().amax(0).clamp(min=1e-5)  # (K,)
            smoothing = (input_absmax.float().clamp(min=1e-5) ** alpha / weight_absmax ** (1 - alpha)).clamp(min=1e-5)
            weight = weight * smoothing[None, :]
            inverse_smoothing = 1.0 / smoothing
        self.register_buffer("inverse_smoothing", inverse_smoothing)  # (K,) or None
        weight_scale = weight.abs().amax(1).clamp(min=1e-12) / INT8_MAX  # (N,)
        weight_int8 = torch.round(weight / weight_scale[:, None]).clamp_(-INT8_MAX, INT8_MAX).to(torch.int8)
        # (K, N) as a transposed view of the (N, K) rows: oneDNN ran it faster than a contiguous (K, N) copy.
        self.register_buffer("weight_int8", weight_int8)  # (N, K)
        self.register_buffer("weight_scale", weight_scale)  # (N,)
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().float())
        self.residual_pass = residual_pass

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).float()  # (M, K)
        if self.inverse_smoothing is not None:
            rows = rows * self.inverse_smoothing
        rounded, scale = quantise_rows(rows)  # (M, K), (M, 1)
        weight_t = self.weight_int8.t()  # (K, N)
        out = torch._int_mm(rounded.to(torch.int8), weight_t) * scale  # (M, N) fp32
        if self.residual_pass:
            residual, residual_scale = quantise_rows(rows - rounded * scale)
            out += torch._int_mm(residual.to(torch.int8), weight_t) * residual_scale
        out *= self.weight_scale
        if self.bias is not None:
            out += self.bias
        return out.reshape(*x.shape[:-1], self.out_features)


def linear_layers(model: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


def input_absmax_per_channel(model: torch.nn.Module, run: Callable[[], None]) -> dict[str, torch.Tensor]:
    """{Linear name: (in_features,) max |input| per channel} over what ``run()`` feeds ``model``."""
    maxima: dict[str, torch.Tensor] = {}

    def record(name):
        def hook(_module, inputs, _output):
            channel_max = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).abs().amax(0).float()  # (K,)
            maxima[name] = torch.maximum(maxima[name], channel_max) if name in maxima else channel_max

        return hook

    _run_with_hooks({m: record(name) for name, m in linear_layers(model).items()}, run)
    return maxima


def _run_with_hooks(hooks: dict[torch.nn.Module, Callable], run: Callable[[], None]) -> None:
    """``run()`` under inference mode with each module's forward hook attached, removed afterwards."""
    handles = [module.register_forward_hook(hook) for module, hook in hooks.items()]
    try:
        with torch.inference_mode():
            run()
    finally:
        for handle in handles:
            handle.remove()


def single_pass_errors(
    model: torch.nn.Module, candidates: dict[str, Int8MatmulLinear], run: Callable[[], None]
) -> dict[str, float]:
    """{Linear name: relative RMS error of its int8 candidate's output} on what ``run()`` feeds ``model``."""
    sums: dict[str, list[float]] = {name: [0.0, 0.0] for name in candidates}

    def compare(name):
        def hook(_module, inputs, output):
            reference = output.detach().float()
            sums[name][0] += float((candidates[name](inputs[0]) - reference).pow(2).sum())
            sums[name][1] += float(reference.pow(2).sum())

        return hook

    layers = linear_layers(model)
    _run_with_hooks({layers[name]: compare(name) for name in candidates}, run)
    return {name: (err / max(ref, 1e-30)) ** 0.5 for name, (err, ref) in sums.items()}


def use_int8_matmuls(
    model: torch.nn.Module,
    run_calibration: Callable[[], None],
    *,
    alpha: float = SMOOTHING_ALPHA,
    residual_pass_error: float = RESIDUAL_PASS_ERROR,
) -> dict[str, float]:
    """Replace every ``nn.Linear`` under ``model`` (in place) by :class:`Int8MatmulLinear`, calibrated by
    ``run_calibration()`` (a forward pass over :data:`CALIBRATION_TEXTS`); returns each layer's single-pass
    relative error (the layers above ``residual_pass_error`` got a residual pass).

    Call on an fp32 model on the CPU. A head tied to the input embeddings gets its own int8 copy while the
    embedding table stays fp32; ``config.tie_word_embeddings`` is cleared so transformers does not re-tie them.
    """
    maxima = input_absmax_per_channel(model, run_calibration)
    layers = linear_layers(model)
    candidates = {name: Int8MatmulLinear(layers[name], maxima.get(name), alpha) for name in layers}
    errors = single_pass_errors(model, candidates, run_calibration)
    for name, layer in candidates.items():
        layer.residual_pass = errors[name] > residual_pass_error
        parent_name, _, attribute = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attribute, layer)
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "tie_word_embeddings", False):
        config.tie_word_embeddings = False
    return errors

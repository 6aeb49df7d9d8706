"""Local models: loading causal LMs and encoders from folders or GGUF files, precision, sentence embeddings.

Owns ``loading`` (paths, devices, the dequantised LM copy, model fingerprints), ``precision`` (what ``auto``
resolves to) and ``auto_choice`` (timing each adequate path once per CPU kind and model), ``mixed_precision``
(bf16 matmuls with fp32 activations, fused norms and projections), ``int8_matmuls``, ``onnx_encoder``,
``lm_pass`` (the causal LM's entropy/NLL pass) and ``embeddings`` (cached, chunked unit embeddings of a
table). Never downloads. May import :mod:`euds_core.storage` and :mod:`euds_core.data`.
"""

"""Local models: loading causal LMs and encoders from folders or GGUF files, precision, sentence embeddings.

Owns ``loading`` (paths, devices, the dequantised LM copy, model fingerprints), ``mixed_precision`` (bf16
matmuls with fp32 activations where the device has native bf16) and ``embeddings`` (cached, chunked unit
embeddings of a table). Never downloads. May import :mod:`euds_core.storage` and :mod:`euds_core.data`.
"""

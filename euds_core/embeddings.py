"""Sentence embeddings of a table's texts, cached per chunk (shared by semantic entropy, the map, kNN, ...)."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pandas as pd

from euds_core.cache import CancelFn, DatasetCache, ProgressFn, load_array, run_chunked
from euds_core.models import DEFAULT_ENCODER, load_encoder, model_hash, resolve_encoder_path

HASHING_ENCODER = "hashing"  # model-free bag-of-words hashing encoder: fast tests, no assets needed
HASHING_DIM = 256
_WORD = re.compile(r"\w+", re.UNICODE)


def encoder_id(encoder: str) -> str:
    """The cache identity of an encoder spec: ``hashing`` or the model folder's fingerprint."""
    return HASHING_ENCODER if encoder == HASHING_ENCODER else model_hash(resolve_encoder_path(encoder))


def hashing_embed(texts: list[str], dim: int = HASHING_DIM) -> np.ndarray:
    """L2-normalised counts of lower-cased words hashed into ``dim`` buckets (crc32, stable across runs)."""
    out = np.zeros((len(texts), dim), dtype=np.float32)  # (n_texts, dim)
    for i, text in enumerate(texts):
        for word in _WORD.findall(text.lower()):
            out[i, zlib.crc32(word.encode()) % dim] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


def compute_embeddings(
    table: pd.DataFrame,
    *,
    encoder: str = DEFAULT_ENCODER,
    device: str = "cpu",
    batch_size: int = 64,
    cache: DatasetCache | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """(n_rows, dim) float32 unit-length embeddings (mean pooling per the model's config, L2-normalised)."""
    texts = table["text"].tolist()
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
    if encoder == HASHING_ENCODER:
        compute = lambda rows: hashing_embed([texts[i] for i in rows])  # noqa: E731
    else:
        model = None

        def compute(rows: np.ndarray) -> np.ndarray:
            nonlocal model
            model = model or load_encoder(str(resolve_encoder_path(encoder)), device)
            emb = model.encode(
                [texts[i] for i in rows],
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            return emb.astype(np.float32)

    folder = cache.feature_dir("embedding", {"encoder": encoder_id(encoder)}) if cache is not None else None
    return run_chunked(
        folder, order, compute, chunk_rows=max(256, batch_size * 4), progress=progress, cancel=cancel, label="embedding"
    )


def load_cached_embeddings(dataset_id: str, n_rows: int, encoder: str = DEFAULT_ENCODER) -> np.ndarray | None:
    """The (n_rows, dim) embeddings when a scorer already cached them for this dataset, else None (no model work)."""
    folder = DatasetCache(dataset_id).feature_dir("embedding", {"encoder": encoder_id(encoder)})
    emb = load_array(folder / "all.npy")
    return emb if emb is not None and len(emb) == n_rows else None

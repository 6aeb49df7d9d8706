"""Sentence embeddings of a table's texts, cached per chunk (shared by semantic entropy, the map, kNN, ...)."""

from __future__ import annotations

import re
import shutil
import zlib

import numpy as np
import pandas as pd

from euds_core.models.loading import (
    DEFAULT_ENCODER,
    ENCODER_PRECISIONS,
    load_encoder,
    model_hash,
    resolve_device,
    resolve_encoder_path,
)
from euds_core.models.precision import predicted_path, resolve_encoder_precision
from euds_core.storage.cache import (
    CancelFn,
    ChunkPlan,
    DatasetCache,
    ProgressFn,
    load_array,
    load_partial_rows,
    run_chunked,
    sample_first_plan,
    save_array,
)

HASHING_ENCODER = "hashing"  # model-free bag-of-words hashing encoder: fast tests, no assets needed
HASHING_DIM = 256
# The first stage (a random sample embedded before the rest): the partial semantic view. 256 short snippets
# take ~1 s on 2 cores, 256 bbc_news articles ~10 s. Not fewer: the partial view fits its 16 k-means
# centroids on these rows alone.
FIRST_STAGE_ROWS = 256
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
    precision: str | None = None,
    first_stage_only: bool = False,
) -> np.ndarray | None:
    """(n_rows, dim) float32 unit-length embeddings (mean pooling per the model's config, L2-normalised).

    ``precision`` (models.ENCODER_PRECISIONS) defaults to what ``device`` runs fastest without losing
    accuracy (:func:`~euds_core.models.precision.resolve_encoder_precision`: measured on a CPU); it is part of the cache key.
    ``first_stage_only`` embeds just the first random sample and returns None (storage.cache.run_chunked).
    """
    texts = table["text"].tolist()
    chunk_rows = max(256, batch_size * 4)
    # Sample first, then random chunks, each sorted by length (similar lengths per batch: less padding).
    plan = sample_first_plan([len(t) for t in texts], first_rows=FIRST_STAGE_ROWS, chunk_rows=chunk_rows)
    if precision is None and encoder != HASHING_ENCODER:
        precision = resolve_encoder_precision(device, str(resolve_encoder_path(encoder)))
    precision = precision or "fp32"
    if encoder == HASHING_ENCODER:
        compute = lambda rows: hashing_embed([texts[i] for i in rows])  # noqa: E731
    else:
        model = None

        def compute(rows: np.ndarray) -> np.ndarray:
            nonlocal model
            model = model or load_encoder(str(resolve_encoder_path(encoder)), device, precision)
            emb = model.encode(
                [texts[i] for i in rows],
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            return emb.astype(np.float32)

    folder = cache.feature_dir("embedding", embedding_key(encoder, precision)) if cache is not None else None
    reused = with_pool_embeddings(table, cache, encoder, precision, compute, progress)
    if reused is not None:  # a first stage is then done too: every row is cached
        return None if first_stage_only else reused
    return run_chunked(
        folder,
        plan,
        compute,
        progress=progress,
        cancel=cancel,
        label="embedding",
        first_stage_only=first_stage_only,
        step_rows=max(64, batch_size * 2),  # progress and cancel every few seconds on 2 CPU cores
    )


def with_pool_embeddings(table, cache, encoder: str, precision: str, compute, progress=None) -> np.ndarray | None:
    """The embeddings of a pool with appended test-file rows (:mod:`euds_core.data.test_file`): the pool's own
    cached ones (an embedding depends on the text alone) and the test rows embedded now, saved as this table's.
    None when there are no such rows, this table's embeddings exist already, or the pool alone (with or without
    its label column) has none for this encoder and precision: then everything is embedded as usual."""
    from euds_core.data.table import dataset_hash
    from euds_core.data.test_file import appended_test_rows

    if cache is None:
        return None
    key = embedding_key(encoder, precision)
    folder = cache.feature_dir("embedding", key)
    if (folder / "all.npy").exists():
        return None  # checked first: a cached table's lookup stays as cheap as before
    test_rows = appended_test_rows(table) if "id" in table.columns else None  # a bare table of texts has no ids
    if test_rows is None or test_rows[0] == 0:
        return None
    n_pool = int(test_rows[0])
    if not np.array_equal(test_rows, np.arange(n_pool, len(table))):
        return None
    pool_table = table.iloc[:n_pool]
    for candidate in (pool_table, pool_table.drop(columns="label", errors="ignore")):
        pool_folder = DatasetCache(dataset_hash(candidate), root=cache.root.parent).feature_dir("embedding", key)
        pool_embeddings = load_array(pool_folder / "all.npy")
        if pool_embeddings is not None and len(pool_embeddings) == n_pool:
            break
    else:
        return None
    on_rows = (lambda done, total, label: progress(n_pool + done, n_pool + total, label)) if progress else None
    order = np.arange(len(test_rows))
    test = run_chunked(
        folder / "test-rows",
        ChunkPlan(order),
        lambda rows: compute(test_rows[rows]),
        progress=on_rows,
        label="embedding",
    )
    embeddings = np.concatenate([pool_embeddings, test]).astype(np.float32)
    save_array(folder / "all.npy", embeddings)
    shutil.rmtree(folder / "test-rows", ignore_errors=True)
    return embeddings


def resolved_embedding_precision(encoder: str, precision: str = "auto") -> str:
    """The precision ``encoder``'s embeddings are computed in: part of the key of every score that reads them.

    ``auto`` resolves on the default device once, here, so a key and its computation always agree (bf16 vs fp32
    embeddings rank semantic entropy at Spearman 0.88). The hashing encoder has no precision choice: fp32.
    """
    if encoder == HASHING_ENCODER:
        return "fp32"
    if precision != "auto":
        return precision
    return resolve_encoder_precision(resolve_device("auto"), str(resolve_encoder_path(encoder)))


def embedding_key(encoder: str, precision: str) -> dict:
    """The embedding cache key; fp32 keeps the key it had before the bf16 path existed (no recomputation).

    int8 is keyed by its version (int8_matmuls.INT8_VERSION: calibration text and rules), onnx by its export
    version and the ONNX Runtime version."""
    key = {"encoder": encoder_id(encoder)}
    if precision == "int8" and encoder != HASHING_ENCODER:
        from euds_core.models.int8_matmuls import INT8_VERSION  # imports torch: only for int8 keys

        key["precision"] = INT8_VERSION
    elif precision == "onnx" and encoder != HASHING_ENCODER:
        from euds_core.models.onnx_encoder import ONNX_VERSION, onnx_runtime_available, onnx_runtime_tag

        key["precision"] = onnx_runtime_tag() if onnx_runtime_available() else ONNX_VERSION
    elif precision != "fp32" and encoder != HASHING_ENCODER:
        key["precision"] = precision
    return key


def load_cached_embeddings(dataset_id: str, n_rows: int, encoder: str = DEFAULT_ENCODER) -> np.ndarray | None:
    """The (n_rows, dim) embeddings when a scorer already cached them for this dataset, else None (no model work).

    Any precision's copy will do (cosines to fp32 >= 0.999); the CPU-flag rule's path is tried first (not the
    measured choice: looking one up must never start a measurement).
    """
    preferred = predicted_path("encoder")
    for precision in sorted(ENCODER_PRECISIONS, key=lambda p: p != preferred):
        folder = DatasetCache(dataset_id).feature_dir("embedding", embedding_key(encoder, precision))
        emb = load_array(folder / "all.npy")
        if emb is not None and len(emb) == n_rows:
            return emb
    return None


def load_partial_embeddings(
    cache: DatasetCache, n_rows: int, encoder: str = DEFAULT_ENCODER
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(rows, embeddings)`` finished so far by a running (or finished) embedding pass, else None; no model work.

    Of the two precisions' folders, the one with more finished rows wins (only one is normally being filled).
    """
    best = None
    for precision in ENCODER_PRECISIONS:
        folder = cache.feature_dir("embedding", embedding_key(encoder, precision))
        got = load_partial_rows(folder, n_rows)
        if got is not None and (best is None or len(got[0]) > len(best[0])):
            best = got
    return best

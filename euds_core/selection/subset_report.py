"""What a selection kept, in a few numbers: diversity (Vendi), cluster coverage, label balance, score means.

One plain dict (JSON-able) so the Explore page can show it and every export manifest can carry it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError


def vendi_score(embeddings: np.ndarray) -> float:
    """Vendi score (Friedman & Dieng 2023) with the cosine kernel: exp(entropy of the eigenvalues of K / n).

    In [1, min(n, dim)]: the effective number of distinct samples (1 = all identical, n = mutually orthogonal).
    Computed from the (dim, dim) matrix XᵀX / n, which has the same non-zero eigenvalues as K / n = XXᵀ / n.
    """
    x = np.asarray(embeddings, dtype=np.float64)  # (n, d)
    if len(x) == 0:
        return 0.0
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    small = x @ x.T if len(x) <= x.shape[1] else x.T @ x  # the smaller Gram matrix
    eig = np.clip(np.linalg.eigvalsh(small / len(x)), 0.0, None)
    eig = eig[eig > 1e-12]
    eig = eig / eig.sum()
    return float(np.exp(-(eig * np.log(eig)).sum()))


def normalised_entropy(counts: np.ndarray) -> float:
    """Entropy of a count vector divided by log(number of categories), in [0, 1]; 1 = perfectly even."""
    counts = np.asarray(counts, dtype=np.float64)
    if len(counts) < 2 or counts.sum() == 0:
        return 1.0 if len(counts) == 1 else 0.0
    p = counts / counts.sum()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(len(counts)))


def subset_report(
    kept,
    *,
    embeddings: np.ndarray | None = None,
    labels=None,
    scores: pd.DataFrame | dict | None = None,
    clusters: np.ndarray | None = None,
    n_clusters: int = 16,
    seed: int = 0,
) -> dict:
    """Summary of a subset of the pool: pass ``kept`` as a boolean mask or row indices over the pool.

    Keys: ``n_kept``, ``n_pool``, ``fraction``; with embeddings ``vendi_kept`` / ``vendi_pool`` (see
    :func:`vendi_score`); with embeddings or ``clusters`` ``cluster_coverage`` (share of the pool's clusters —
    seeded k-means, ``n_clusters`` — with at least one kept row) and ``cluster_balance`` (normalised entropy of
    the kept rows over those clusters; ``cluster_balance_pool`` the same over every pool row; the pool's coverage
    is 1 by definition); with labels ``label_counts_kept`` / ``label_counts_pool`` and ``label_balance`` /
    ``label_balance_pool`` (normalised entropy, 1 = even); with scores ``score_means`` {name: {"kept", "pool"}}.
    """
    n = _pool_size(embeddings, labels, scores, clusters)
    mask = np.zeros(n, dtype=bool)
    kept = np.asarray(kept)
    if kept.dtype == bool:
        if len(kept) != n:
            raise EudsInputError(f"the keep mask has {len(kept)} entries for a pool of {n} rows")
        mask = kept.copy()
    else:
        mask[kept.astype(np.int64)] = True
    report: dict = {"n_kept": int(mask.sum()), "n_pool": n, "fraction": float(mask.mean()) if n else 0.0}
    if embeddings is not None:
        emb = np.asarray(embeddings, dtype=np.float32)
        report["vendi_kept"] = vendi_score(emb[mask])
        report["vendi_pool"] = vendi_score(emb)
        if clusters is None:
            from euds_core.selection.samplers.cluster_balanced import kmeans_clusters

            clusters = kmeans_clusters(emb, min(n_clusters, n), seed)[0]
    if clusters is not None:
        ids, pool_counts = np.unique(clusters, return_counts=True)
        kept_counts = np.array([(clusters[mask] == c).sum() for c in ids])
        report["n_clusters"] = int(len(ids))
        report["cluster_coverage"] = float((kept_counts > 0).mean())
        report["cluster_balance"] = normalised_entropy(kept_counts)
        report["cluster_balance_pool"] = normalised_entropy(pool_counts)
    if labels is not None:
        lab = pd.Series(np.asarray(labels)).astype(str)
        pool_counts = lab.value_counts().sort_index()
        kept_counts = lab[mask].value_counts().reindex(pool_counts.index, fill_value=0)
        report["label_counts_pool"] = {k: int(v) for k, v in pool_counts.items()}
        report["label_counts_kept"] = {k: int(v) for k, v in kept_counts.items()}
        report["label_balance"] = normalised_entropy(kept_counts.to_numpy())
        report["label_balance_pool"] = normalised_entropy(pool_counts.to_numpy())
    if scores is not None:
        frame = pd.DataFrame(scores)
        report["score_means"] = {
            str(c): {"kept": float(frame.loc[mask, c].mean()) if mask.any() else None, "pool": float(frame[c].mean())}
            for c in frame.columns
            if pd.api.types.is_numeric_dtype(frame[c])
        }
    return report


def _pool_size(*arrays) -> int:
    sizes = {len(a) for a in arrays if a is not None}
    if not sizes:
        raise EudsInputError("a subset report needs at least one of embeddings, labels, scores or clusters")
    if len(sizes) > 1:
        raise EudsInputError(f"the inputs of the subset report have different lengths: {sorted(sizes)}")
    return sizes.pop()


def cluster_retention(clusters: np.ndarray, kept: np.ndarray) -> pd.DataFrame:
    """Per cluster of a map (HDBSCAN's ids; -1 = noise): its rows, how many ``kept`` keeps and drops, the kept
    share. Rows a sampled map left out (cluster -2) are not counted. Ordered by cluster id, noise last."""
    clusters, kept = np.asarray(clusters), np.asarray(kept, dtype=bool)
    if len(clusters) != len(kept):
        raise EudsInputError(f"{len(clusters)} clusters for a keep mask of {len(kept)} rows")
    drawn = clusters >= -1
    ids, inverse, rows = np.unique(clusters[drawn], return_inverse=True, return_counts=True)
    kept_rows = np.bincount(inverse, weights=kept[drawn], minlength=len(ids)).astype(np.int64)  # one pass
    frame = pd.DataFrame({"cluster": ids.astype(np.int64), "rows": rows, "kept": kept_rows})
    frame["dropped"] = frame["rows"] - frame["kept"]
    frame["kept_share"] = frame["kept"] / frame["rows"]
    order = np.argsort(np.where(frame["cluster"] == -1, np.iinfo(np.int64).max, frame["cluster"]), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def emptied_clusters(retention: pd.DataFrame) -> pd.DataFrame:
    """The clusters (noise aside) of which nothing is kept, largest first."""
    empty = retention[(retention["cluster"] >= 0) & (retention["kept"] == 0)]
    return empty.sort_values(["rows", "cluster"], ascending=[False, True]).reset_index(drop=True)

import json

import numpy as np
import pandas as pd
import pytest

from euds_core.errors import EudsInputError
from euds_core.selection.subset_report import normalised_entropy, subset_report, vendi_score


def test_vendi_hand_values():
    assert vendi_score(np.eye(4)) == pytest.approx(4.0)  # orthogonal: 4 effective samples
    assert vendi_score(np.ones((5, 3))) == pytest.approx(1.0)  # identical: 1
    two = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert vendi_score(two) == pytest.approx(2.0)  # two distinct directions, twice each
    tall = np.random.default_rng(0).normal(size=(50, 3))  # n > dim: the (dim, dim) route gives the same value
    x = tall / np.linalg.norm(tall, axis=1, keepdims=True)
    eig = np.clip(np.linalg.eigvalsh(x @ x.T / 50), 0, None)
    eig = eig[eig > 1e-12] / eig[eig > 1e-12].sum()
    assert vendi_score(tall) == pytest.approx(np.exp(-(eig * np.log(eig)).sum()), rel=1e-6)


def test_normalised_entropy():
    assert normalised_entropy(np.array([5, 5])) == pytest.approx(1.0)
    assert normalised_entropy(np.array([10, 0])) == pytest.approx(0.0)


def test_report_fields():
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    scores = pd.DataFrame({"el2n": [0.1, 0.2, 0.3, 0.4], "name": list("abcd")})
    report = subset_report(
        [0, 2], embeddings=emb, labels=["x", "x", "y", "y"], scores=scores, clusters=np.array([0, 0, 1, 1])
    )
    assert report["n_kept"] == 2 and report["n_pool"] == 4 and report["fraction"] == 0.5
    assert report["vendi_kept"] == pytest.approx(2.0) and report["vendi_pool"] == pytest.approx(2.0)
    assert report["cluster_coverage"] == 1.0 and report["cluster_balance"] == pytest.approx(1.0)
    assert report["label_counts_kept"] == {"x": 1, "y": 1} and report["label_balance"] == pytest.approx(1.0)
    assert report["score_means"] == {"el2n": {"kept": pytest.approx(0.2), "pool": pytest.approx(0.25)}}
    json.dumps(report)  # goes into export manifests as is
    one_side = subset_report(np.array([True, True, False, False]), embeddings=emb, clusters=np.array([0, 0, 1, 1]))
    assert one_side["cluster_coverage"] == 0.5 and one_side["vendi_kept"] == pytest.approx(1.0)
    auto = subset_report([0, 3], embeddings=emb, n_clusters=2)  # clusters from seeded k-means
    assert auto["n_clusters"] == 2 and auto["cluster_coverage"] == 1.0


def test_report_input_errors():
    with pytest.raises(EudsInputError, match="different lengths"):
        subset_report([0], embeddings=np.eye(3), labels=["a", "b"])
    with pytest.raises(EudsInputError, match="keep mask"):
        subset_report(np.array([True]), labels=["a", "b"])


def test_pool_figures_beside_the_kept_ones():
    labels = np.array(["a"] * 6 + ["b"] * 2)
    clusters = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    kept = np.array([True, True, False, False, False, False, False, True])
    report = subset_report(kept, labels=labels, clusters=clusters)
    assert report["label_balance_pool"] == pytest.approx(normalised_entropy(np.array([6, 2])))
    assert report["label_balance"] == pytest.approx(normalised_entropy(np.array([2, 1])))
    assert report["cluster_balance_pool"] == pytest.approx(normalised_entropy(np.array([4, 2, 2])))
    assert report["cluster_coverage"] == pytest.approx(2 / 3)


def test_cluster_retention_counts_kept_and_dropped_per_cluster_and_finds_the_emptied():
    from euds_core.selection.subset_report import cluster_retention, emptied_clusters

    clusters = np.array([-1, 0, 0, 0, 1, 1, 2, 2, 2, 2, -2, 3])
    kept = np.array([True, True, False, True, False, False, True, True, True, True, True, False])
    frame = cluster_retention(clusters, kept)
    assert frame["cluster"].tolist() == [0, 1, 2, 3, -1]  # noise last; -2 (not on the map) not counted
    assert frame["rows"].tolist() == [3, 2, 4, 1, 1] and frame["kept"].tolist() == [2, 0, 4, 0, 1]
    assert frame["dropped"].tolist() == [1, 2, 0, 1, 0]
    assert emptied_clusters(frame)["cluster"].tolist() == [1, 3]  # largest first
    assert emptied_clusters(cluster_retention(clusters, np.ones(12, dtype=bool))).empty
    with pytest.raises(EudsInputError):
        cluster_retention(clusters, kept[:3])

import numpy as np

from euds_core.selection.samplers import get_sampler
from euds_core.selection.samplers.kcenter import kcenter_greedy


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_hand_example_order():
    # Angles 0, 10, 20, 90, 180 degrees. The mean direction is at ~38 deg, closest to 20 -> start at row 2.
    # Farthest from 20: 180 (160 deg). From {20, 180}: 90 is 70 deg from its nearest pick, 0 is 20, 10 is 10 -> 90.
    # Then 0 (20 deg from 20) before 10 (10 deg).
    angles = np.deg2rad([0, 10, 20, 90, 180])
    emb = _unit(np.stack([np.cos(angles), np.sin(angles)], axis=1))
    assert kcenter_greedy(emb, 5).tolist() == [2, 4, 3, 0, 1]


def test_covers_every_cluster_first():
    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(5, 16)))
    groups = np.repeat(np.arange(5), [50, 20, 10, 5, 2])
    emb = _unit(centres[groups] + 0.02 * rng.normal(size=(87, 16)))
    picks = get_sampler("kcenter").sample(5, embeddings=emb)
    assert sorted(groups[picks].tolist()) == [0, 1, 2, 3, 4]
    assert len(get_sampler("kcenter").sample(87, embeddings=emb)) == 87

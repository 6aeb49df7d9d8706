import numpy as np
import pandas as pd
import pytest

from euds_core.errors import EudsInputError
from euds_core.scores.near_duplicate import (
    NearDuplicateScorer,
    near_duplicate_groups,
    near_duplicates_to_drop,
    nearest_similarity,
)

# e2 duplicates e0; e3 is .8 from e1 and .6 from e0.
E = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32)


def test_nearest_similarity_hand_values():
    np.testing.assert_allclose(nearest_similarity(E), [1.0, 0.8, 1.0, 0.8], atol=1e-6)


def test_groups_and_drops():
    groups = near_duplicate_groups(E, 0.95)
    assert groups[0] == groups[2] and len(set(groups.tolist())) == 3
    assert near_duplicates_to_drop(E, 0.95).tolist() == [2]  # keep the lowest index of {0, 2}
    assert near_duplicates_to_drop(E, 0.95, keep_priority=np.array([0, 0, 1, 0])).tolist() == [0]  # keep the best
    assert near_duplicates_to_drop(E, 0.75).tolist() == [2, 3]  # groups {0, 2} and {1, 3}
    assert near_duplicates_to_drop(E, 0.5).tolist() == [1, 2, 3]  # one chain 1-3-0-2 links them all


def test_bad_threshold_is_input_error():
    with pytest.raises(EudsInputError, match="threshold"):
        near_duplicates_to_drop(E, 1.5)


def test_scorer_exact_copy_scores_one():
    table = pd.DataFrame({"text": ["the cat sat", "The cat sat!", "a dog ran fast", "blue moon"]})
    values = NearDuplicateScorer(encoder="hashing").score(table)
    assert values.dtype == np.float32
    assert values[0] == pytest.approx(1.0) and values[1] == pytest.approx(1.0)  # same words after lower-casing
    assert values[2] < 1.0 and values[3] < 1.0

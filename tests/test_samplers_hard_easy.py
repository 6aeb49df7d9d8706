import numpy as np
import pytest

from euds_core.errors import EudsInputError
from euds_core.selection.samplers import get_sampler, keep_count

SCORE = np.arange(20, dtype=float)  # row i has score i: row 19 is the hardest


def test_ten_percent_hardest_then_random_rest():
    picks = get_sampler("hard_easy", {"seed": 0}).sample(10, score=SCORE)
    assert picks[0] == 19  # round(0.1 * 10) = 1 hard pick: the top score
    assert len(set(picks.tolist())) == 10 and 19 not in picks[1:]
    again = get_sampler("hard_easy", {"seed": 0}).sample(10, score=SCORE)
    other = get_sampler("hard_easy", {"seed": 1}).sample(10, score=SCORE)
    assert picks.tolist() == again.tolist() and picks.tolist() != other.tolist()


def test_fractions_and_easiest_mode():
    picks = get_sampler("hard_easy", {"hard_fraction": 0.5, "easy": "easiest"}).sample(6, score=SCORE)
    assert picks.tolist() == [19, 18, 17, 0, 1, 2]
    assert get_sampler("hard_easy", {"hard_fraction": 1.0}).sample(3, score=SCORE).tolist() == [19, 18, 17]


def test_ties_in_the_tail_are_seeded():
    flat = np.zeros(10)
    a = get_sampler("hard_easy", {"hard_fraction": 1.0, "seed": 0}).sample(3, score=flat)
    b = get_sampler("hard_easy", {"hard_fraction": 1.0, "seed": 0}).sample(3, score=flat)
    assert a.tolist() == b.tolist()


def test_input_errors():
    with pytest.raises(EudsInputError, match="needs a score"):
        get_sampler("hard_easy").sample(3)
    with pytest.raises(EudsInputError, match="cannot pick"):
        get_sampler("hard_easy").sample(30, score=SCORE)
    with pytest.raises(EudsInputError, match="hard_fraction"):
        get_sampler("hard_easy", {"hard_fraction": 2.0})
    with pytest.raises(EudsInputError, match="unknown sampler"):
        get_sampler("nope")
    with pytest.raises(EudsInputError, match="--keep"):
        keep_count(1.5, 10)
    assert keep_count(0.1, 300) == 30

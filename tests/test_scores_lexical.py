import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from euds_core.scores.lexical import Distinct2Scorer, MTLDScorer, TTRScorer, distinct_n, mtld, type_token_ratio, words


def test_words_lowercase_and_drop_punctuation():
    assert words("A a, B! b") == ["a", "a", "b", "b"]


def test_ttr_hand_values():
    assert type_token_ratio(["a", "a", "b", "b"]) == 0.5
    assert type_token_ratio(["a", "b", "c"]) == 1.0
    assert type_token_ratio([]) == 0.0


def test_distinct_2_hand_values():
    assert distinct_n(["a", "a", "a"], 2) == 0.5  # bigrams (a,a) (a,a): 1 distinct of 2
    assert distinct_n(["a", "b", "a", "b"], 2) == pytest.approx(2 / 3)  # (a,b) (b,a) (a,b)
    assert distinct_n(["a"], 2) == 0.0


def test_mtld_hand_values():
    # "a a a a": TTR hits 0.5 <= 0.72 after every 2 tokens -> 2 factors -> 4 / 2 = 2, both directions.
    assert mtld(["a", "a", "a", "a"]) == 2.0
    # "a b a": forward a(1) b(1) a(2/3 <= .72) -> 1 factor -> 3 / 1 = 3; backward the same.
    assert mtld(["a", "b", "a"]) == 3.0
    # "a b a c": forward closes a factor at the 3rd token, partial "c" has TTR 1 -> 1 factor -> 4;
    # backward c a b a: TTR 1,1,1,0.75 -> partial (1 - 0.75) / 0.28 -> 4 / 0.892857 = 4.48.
    assert mtld(["a", "b", "a", "c"]) == pytest.approx((4 + 4 / (0.25 / 0.28)) / 2)
    # No factor ever closes: the count is floored at the smallest possible, min(1, 1 / (0.28 n)).
    assert mtld(["a", "b", "c"]) == 3.0
    assert mtld(list("abcdefghij")) == pytest.approx(0.28 * 100)  # = one repetition at the end ...
    assert mtld(list("abcdefghij")) >= mtld(list("abcdefghia"))  # ... so never below a less diverse text
    assert mtld([]) == 0.0


def test_scorers_on_a_table():
    table = pd.DataFrame({"text": ["a a b b", "the cat sat", "", "x x x"]})
    np.testing.assert_allclose(TTRScorer().score(table), [0.5, 1.0, 0.0, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(Distinct2Scorer().score(table), [1.0, 1.0, 0.0, 0.5], rtol=1e-6)
    m = MTLDScorer().score(table)
    assert m.dtype == np.float32 and m[1] == 3.0 and m[2] == 0.0
    # Higher = more diverse: a repetitive text scores below a varied one of the same length on all three.
    pair = pd.DataFrame({"text": ["a a a a a a", "a b c d e f"]})
    for scorer in (TTRScorer(), Distinct2Scorer(), MTLDScorer()):
        low, high = scorer.score(pair)
        assert low < high, scorer.name


@given(st.lists(st.sampled_from("abcde"), max_size=40))
def test_ranges(tokens):
    assert 0.0 <= type_token_ratio(tokens) <= 1.0
    assert 0.0 <= distinct_n(tokens, 2) <= 1.0
    assert (
        (mtld(tokens) == 0.0)
        if not tokens
        else (1.0 <= mtld(tokens) <= max(len(tokens), 0.28 * len(tokens) ** 2) + 1e-9)
    )

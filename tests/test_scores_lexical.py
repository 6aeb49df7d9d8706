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


# Hand-worked MTLD values (threshold 0.72; a factor closes when the running TTR falls to <= 0.72).
HAND_WORKED_MTLD = [
    # "a a a a": TTR hits 0.5 after every 2 tokens -> 2 factors -> 4 / 2 = 2, both directions.
    (["a", "a", "a", "a"], 2.0),
    # "a b a": TTR 1, 1, 2/3 -> 1 factor -> 3 / 1 = 3; backward the same.
    (["a", "b", "a"], 3.0),
    # "a b a c": forward closes a factor at the 3rd token, the partial "c" has TTR 1 (adds 0) -> 4 / 1 = 4;
    # backward c a b a: TTR 1, 1, 1, 0.75 -> partial (1 - 0.75) / 0.28 -> 4 / 0.892857 = 4.48. Mean 4.24.
    (["a", "b", "a", "c"], (4 + 4 / (0.25 / 0.28)) / 2),
    # All distinct: no factor closes and the text's TTR is 1 -> one factor, MTLD = n.
    (list("abcdefghij"), 10.0),
    # One repetition at the end: TTR 9/10 = 0.9 -> partial factor 0.1 / 0.28 -> 10 / 0.357 = 28 (forward);
    # backward "a i h ... a": same TTR at the end -> 28 too.
    (list("abcdefghia"), 0.28 * 100),
    # "the cat saw the dog and the cat ran": TTR 1, 1, 1, .75, .8, .833, 5/7 = .714 -> a factor at the 3rd "the";
    # the rest "cat ran" has TTR 1 (adds 0) -> 9 / 1. Backward "ran cat the and dog the saw cat the": TTR 1 (x5),
    # 5/6, 6/7, 6/8, 6/9 = .667 -> a factor at the last token -> 9 / 1. Mean 9.
    ("the cat saw the dog and the cat ran".split(), 9.0),
]


@pytest.mark.parametrize(("tokens", "expected"), HAND_WORKED_MTLD)
def test_mtld_hand_values_agree_with_the_library(tokens, expected):
    from lexicalrichness import LexicalRichness

    assert mtld(tokens) == pytest.approx(expected)
    assert LexicalRichness(tokens, preprocessor=None, tokenizer=None).mtld(threshold=0.72) == pytest.approx(expected)


def test_mtld_of_nothing_and_the_score_identity():
    from importlib.metadata import version

    assert mtld([]) == 0.0
    params = MTLDScorer().params()
    assert params["implementation"] == f"lexicalrichness-{version('lexicalrichness')}"
    # The hand-written MTLD's cache key (with its own factor floor) is not served for the library's values.
    assert params != {"threshold": 0.72, "no_factor": "floor-v2"}


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

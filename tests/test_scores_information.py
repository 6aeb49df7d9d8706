import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from euds_core.scores.information import InformationScorer, corpus_surprisal_bits, token_entropy_bits, tokenize_to_ids
from tests.helpers import requires_assets


def ids(*rows):
    return [np.array(r, dtype=np.int64) for r in rows]


def test_hand_checked_entropies():
    # 4 distinct tokens -> 2 bits; one token repeated -> 0; [a, a, b, b] -> 1 bit; [a, a, a, b] -> 0.811 bits
    values = token_entropy_bits(ids([1, 2, 3, 4], [7, 7, 7], [5, 5, 6, 6], [1, 1, 1, 2], []))
    np.testing.assert_allclose(values, [2.0, 0.0, 1.0, 0.8112781, 0.0], atol=1e-6)
    assert values.dtype == np.float32


def test_scorer_with_whitespace_tokenizer():
    table = pd.DataFrame({"text": ["the cat sat down", "no no no no", "Yes, yes."]})
    values = InformationScorer(tokenizer="whitespace").score(table)
    # "Yes, yes." -> [yes , yes .]: counts 2,1,1 of 4 -> 1.5 bits
    np.testing.assert_allclose(values, [2.0, 0.0, 1.5], atol=1e-6)


def test_corpus_variant_rare_words_score_higher():
    # pool: token 1 appears 5x, token 9 once; add-one over 2 types: P(1)=6/8, P(9)=2/8
    values = corpus_surprisal_bits(ids([1, 1, 1, 1], [1, 9]))
    np.testing.assert_allclose(values, [-np.log2(6 / 8), (-np.log2(6 / 8) - np.log2(2 / 8)) / 2], atol=1e-6)
    assert values[1] > values[0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), max_size=40), min_size=1, max_size=12))
def test_entropy_bounds_and_permutation_equivariance(rows):
    arrays = ids(*rows)
    values = token_entropy_bits(arrays)
    for row, v in zip(rows, values):
        assert -1e-6 <= v <= np.log2(max(len(row), 1)) + 1e-6
    perm = np.random.default_rng(0).permutation(len(arrays))
    np.testing.assert_allclose(token_entropy_bits([arrays[i] for i in perm]), values[perm], atol=1e-6)


def test_unknown_variant_rejected():
    with pytest.raises(ValueError):
        InformationScorer(variant="nope")


@pytest.mark.slow
@requires_assets
def test_minilm_tokenizer_drops_special_tokens():
    (tokens,) = tokenize_to_ids(["cat dog sun red"], "packaged:minilm")
    assert len(tokens) == 4  # no [CLS]/[SEP]
    assert InformationScorer().score(pd.DataFrame({"text": ["cat dog sun red"]}))[0] == pytest.approx(2.0)

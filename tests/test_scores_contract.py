"""One contract over every registered scorer (like sklearn's check_estimator): shape, dtype, finite, deterministic.

Model-free options throughout: the hashing encoder, the whitespace tokenizer and a tiny random-init LM.
"""

import inspect

import numpy as np
import pandas as pd
import pytest

from euds_core.scores import get_scorer_class, list_scorers, make_scorer

QUESTIONS = [
    "is the sun red",
    "was the cat fast",
    "is a dog blue",
    "the moon is",
    "and the mat",
    "a cat ran",
    "sun",
    "is it",
]
ANSWERS = [
    "the sun is red",
    "the cat was slow",
    "a dog is red and blue",
    "the moon is blue",
    "the mat",
    "fast",
    "moon",
    "",
]
LABELS = ["x", "y", "x", "y", "x", "y", "x", "y"]


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(len(QUESTIONS))],
            "text": [q + "\n\n" + a for q, a in zip(QUESTIONS, ANSWERS)],
            "label": LABELS,
            "question": QUESTIONS,
            "answer": ANSWERS,
        }
    )


def _score(name: str, table: pd.DataFrame, options: dict) -> np.ndarray:
    """Score ``name`` without a cache, scoring its dependencies first (combinations read them from ``inputs``)."""
    inputs = {dep: _score(dep, table, options) for dep in get_scorer_class(name).depends_on}
    return make_scorer(name, options).score(table, device="cpu", batch_size=3, cache=None, inputs=inputs)


@pytest.mark.parametrize("name", [cls.name for cls in list_scorers()])
def test_scorer_contract(name, table, tiny_causal_lm_dir):
    options = {"encoder": "hashing", "tokenizer": "whitespace", "lm": str(tiny_causal_lm_dir)}
    cls = get_scorer_class(name)
    assert cls.needs <= set(table.columns), f"the contract table lacks a column {name} needs"
    assert inspect.getdoc(cls) and cls.description, "a scorer documents its direction, range and unit"
    scorer = make_scorer(name, options)
    assert isinstance(scorer.params(), dict)
    first = _score(name, table, options)
    second = _score(name, table, options)
    assert first.shape == (len(table),)
    assert first.dtype == np.float32
    assert np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, second)

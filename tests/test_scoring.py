import numpy as np
import pandas as pd
import pytest

from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError
from euds_core.scores import semantic
from euds_core.scoring.engine import expand_score_names, score_dataset

OPTIONS = {"tokenizer": "whitespace", "encoder": "hashing"}


def make_dataset(n=40):
    texts = [f"word{i % 5} and word{i % 7} then {'more ' * (i % 4)}text" for i in range(n)]
    return Dataset(
        "t",
        "classification",
        pd.DataFrame({"id": [str(i) for i in range(n)], "text": texts, "label": ["a", "b"] * (n // 2)}),
    )


def test_all_three_entropies_add_igse_and_members_come_first():
    assert expand_score_names(["igse"]) == ["information", "generative", "semantic", "igse"]
    assert expand_score_names(["information", "generative", "semantic"])[-1] == "igse"
    with pytest.raises(EudsInputError, match="unknown score"):
        expand_score_names(["entropy"])


def test_second_call_hits_cache_without_model_work(monkeypatch, tiny_causal_lm_dir):
    ds = make_dataset()
    options = {**OPTIONS, "lm": str(tiny_causal_lm_dir)}
    first = score_dataset(ds, ["information", "generative", "semantic"], options=options, device="cpu")
    assert list(first.columns) == ["information", "generative", "semantic", "igse"]
    assert all(first[c].std() > 0 for c in first.columns)
    monkeypatch.setattr(semantic.SemanticScorer, "score", lambda *a, **k: pytest.fail("semantic recomputed"))
    monkeypatch.setattr("euds_core.scores.generative.load_causal_lm", lambda *a, **k: pytest.fail("LM loaded"))
    second = score_dataset(ds, ["information", "generative", "semantic"], options=options, device="cpu")
    pd.testing.assert_frame_equal(first, second)


def test_cached_only_returns_finished_scores_and_free_combinations():
    ds = make_dataset()
    score_dataset(ds, ["information"], options=OPTIONS)
    assert list(score_dataset(ds, ["information", "semantic"], options=OPTIONS, cached_only=True).columns) == [
        "information"
    ]
    score_dataset(ds, ["semantic"], options=OPTIONS)
    cached = score_dataset(ds, ["is"], options=OPTIONS, cached_only=True)
    assert list(cached.columns) == ["information", "semantic", "is"]


def test_label_scorer_needs_label_column():
    from euds_core.scores.base import Scorer
    from euds_core.scoring.engine import check_columns

    class _Needy(Scorer):
        name = "needy_test"
        needs = frozenset({"text", "label"})

    from euds_core import scores

    scores.register_scorer(_Needy)
    try:
        ds = make_dataset()
        ds.table = ds.table.drop(columns="label")
        with pytest.raises(EudsInputError, match="label"):
            check_columns(ds, ["needy_test"])
    finally:
        scores._REGISTRY.pop("needy_test")


def test_progress_reports_every_score():
    seen = {}
    score_dataset(
        make_dataset(),
        ["information", "semantic"],
        options=OPTIONS,
        progress=lambda n, d, t, m: seen.__setitem__(n, (d, t)),
    )
    assert seen == {"information": (40, 40), "semantic": (40, 40)}


def test_scorer_without_name_is_refused():
    from euds_core.scores.base import Scorer

    with pytest.raises(TypeError, match="name"):

        class Nameless(Scorer):  # noqa: F841
            pass


def test_values_are_float32_and_finite():
    out = score_dataset(make_dataset(), ["information", "semantic"], options=OPTIONS)
    assert all(out[c].dtype == np.float32 and np.isfinite(out[c]).all() for c in out.columns)

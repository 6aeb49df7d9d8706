"""AppTest of the Fine-tune page: the curve, table and download from SQLite runs; starting a grid; the search map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from euds_core.data.datasets import save_dataset
from euds_core.data.table import Dataset
from euds_core.experiments.finetune import GridSpec, RunResult
from euds_core.experiments.interval_search import search_grid_path
from euds_core.experiments.run_store import save_run
from euds_core.scoring.engine import score_dataset
from tests.test_finetune import build_tiny_bert, tiny_table
from ui.finetune.charts import (
    accuracy_vs_size_figure,
    accuracy_vs_time_figure,
    clicked_cell,
    explore_link_params,
    summarise_runs,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
OPTIONS = {"tokenizer": "whitespace"}


@pytest.fixture
def dataset() -> Dataset:
    ds = Dataset(name="tiny <b>reviews</b>", task="classification", table=tiny_table(40))
    save_dataset(ds)
    score_dataset(ds, ["information"], options=OPTIONS)
    return ds


def add_runs(ds: Dataset, grid_key: str = "k1") -> None:
    rng = np.random.default_rng(0)
    for seed in (0, 1):
        for size in (0.1, 0.5, 1.0):
            for strategy in ("interval", "random"):
                acc = 0.5 + 0.4 * size + 0.02 * rng.random()
                save_run(ds.id, grid_key, strategy, size, seed, RunResult(acc, acc - 0.05, int(32 * size), 3.0 * size))


def open_page(ds: Dataset) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "4_Fine_tune.py"), default_timeout=60)
    at.session_state["dataset_spec"] = ds.id
    at.session_state["score_options"] = OPTIONS
    return at.run()


def test_page_shows_curve_table_and_download_from_saved_runs(dataset):
    add_runs(dataset)
    at = open_page(dataset)
    assert not at.exception and not at.error
    charts = at.get("plotly_chart")
    assert len(charts) >= 2
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 12
    assert any(b.proto.label == "Download results CSV" for b in at.get("download_button"))
    assert "information" in at.multiselect(key="ft_strategies").options


def test_page_without_runs_says_so(dataset):
    at = open_page(dataset)
    assert not at.exception and any("No finished runs yet" in i.value for i in at.info)


def test_run_button_starts_a_background_grid(dataset, tmp_path, monkeypatch):
    import ui.finetune.view as view

    started = []
    monkeypatch.setattr(view, "start_job", lambda kind, args, dataset_id=None: started.append((kind, args)) or "job1")
    model = build_tiny_bert(tmp_path / "bert")
    at = open_page(dataset)
    at.text_input(key="ft_model").set_value(str(model))
    at.multiselect(key="ft_strategies").set_value(["interval", "random"])
    at.number_input(key="ft_seeds").set_value(2)
    at.button[0].click().run()  # the form's submit button
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(started) == 1
    kind, args = started[0]
    assert kind == "finetune" and args["strategies"] == ["interval", "random"] and args["seeds"] == [0, 1]
    assert args["score"] == "information" and args["config"]["model"] == str(model) and args["grid_key"]


def test_bad_model_folder_is_a_plain_error(dataset, monkeypatch):
    import ui.finetune.view as view

    monkeypatch.setattr(view, "start_job", lambda *a, **k: pytest.fail("no job for a bad model"))
    at = open_page(dataset)
    at.text_input(key="ft_model").set_value("/no/such/<b>folder</b>")
    at.button[0].click().run()
    assert not at.exception and at.error
    assert any("/no/such/<b>folder</b>" in t.value for t in at.text)  # shown as plain text, not HTML


def test_search_heat_map_is_drawn_from_the_saved_grid(dataset):
    grid = pd.DataFrame(
        {
            "p_lo": [0.0, 0.0, 0.2],
            "p_hi": [1.0, 0.6, 1.0],
            "keep_fraction": [1.0, 0.6, 0.8],
            "n_train": [32, 19, 26],
            "accuracy": [0.7, 0.8, 0.75],
            "macro_f1": [0.7, 0.8, 0.75],
            "seconds": [0.1, 0.1, 0.1],
        }
    )
    grid.to_csv(search_grid_path(dataset.id, "information"), index=False)
    at = open_page(dataset)
    assert not at.exception
    assert any("plo 0.00, phi 0.60" in c.value for c in at.caption)
    assert any(b.proto.label == "Open the best cell on Explore" for b in at.button)


def test_search_score_rides_in_the_url_so_a_reload_shows_the_same_heat_map(tmp_path):
    options = {**OPTIONS, "encoder": "hashing"}
    ds = Dataset(name="two scores", task="classification", table=tiny_table(40))
    save_dataset(ds)
    score_dataset(ds, ["information", "semantic"], options=options)
    grid = pd.DataFrame({"p_lo": [0.0, 0.2], "p_hi": [1.0, 0.7], "keep_fraction": [1.0, 0.5], "accuracy": [0.6, 0.9]})
    grid.to_csv(search_grid_path(ds.id, "semantic"), index=False)

    def reload(**params) -> AppTest:
        at = AppTest.from_file(str(REPO_ROOT / "pages" / "4_Fine_tune.py"), default_timeout=60)
        at.session_state["dataset_spec"] = ds.id
        at.session_state["score_options"] = options
        at.query_params.update(params)
        return at.run()

    first = reload()  # no search score in the URL: the first score, which has no grid
    assert first.selectbox(key="ft_search_score").value == "information"
    assert any("No search grid for this score yet" in i.value for i in first.info)
    first.selectbox(key="ft_search_score").set_value("semantic").run()
    assert first.query_params["search_score"] == "semantic"
    again = reload(search_score="semantic")  # a reload keeps the URL, not the session
    assert not again.exception and again.selectbox(key="ft_search_score").value == "semantic"
    assert any("plo 0.20, phi 0.70" in c.value for c in again.caption)
    assert reload(search_score="no such score").selectbox(key="ft_search_score").value == "information"


def test_a_labelled_csv_named_in_the_url_can_be_fine_tuned(tmp_path):
    path = tmp_path / "reviews.csv"
    tiny_table(40)[["text", "label"]].to_csv(path, index=False)
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "4_Fine_tune.py"), default_timeout=60)
    at.query_params["dataset"] = str(path)
    at.run()
    assert not at.exception and any("task classification" in c.value for c in at.caption)
    assert not any("Fine-tuning needs labels" in i.value for i in at.info)


def test_chart_helpers():
    runs = pd.DataFrame(
        {
            "strategy": ["a", "a", "b"],
            "size_fraction": [0.1, 0.1, 0.1],
            "n_train": [5, 5, 5],
            "seed": [0, 1, 0],
            "accuracy": [0.6, 0.8, 0.5],
            "macro_f1": [0.6, 0.8, 0.5],
            "train_seconds": [1.0, 1.0, 1.0],
        }
    )
    summary = summarise_runs(runs)
    assert summary.loc[summary.strategy == "a", "accuracy"].item() == pytest.approx(0.7)
    assert summary.loc[summary.strategy == "a", "accuracy_std"].item() == pytest.approx(np.std([0.6, 0.8], ddof=1))
    fig = accuracy_vs_size_figure(runs)
    assert fig.layout.xaxis.type == "log" and len(fig.data) == 2
    # One colour per strategy on both figures, whatever order the runs come in (they differed before).
    timed = accuracy_vs_time_figure(runs.iloc[::-1])
    assert {t.name: t.marker.color for t in fig.data} == {t.name: t.marker.color for t in timed.data}
    assert clicked_cell({"selection": {"points": [{"x": 0.2, "y": 0.9, "customdata": [0.2, 0.9, 0.7, 0.8]}]}}) == (
        0.2,
        0.9,
    )
    assert clicked_cell({"selection": {"points": []}}) is None
    assert explore_link_params("bbc_news", "igse", 0.2, 0.9) == {
        "dataset": "bbc_news",
        "score": "igse",
        "plo": "0.20",
        "phi": "0.90",
    }
    assert GridSpec(strategies=["random"]).plan()[0][0] == "random"


def test_confirm_runs_the_best_cell_against_random_and_full_then_shows_the_verdict(dataset, tmp_path, monkeypatch):
    import ui.finetune.view as view

    started = []
    monkeypatch.setattr(view, "start_job", lambda kind, args, dataset_id=None: started.append((kind, args)) or "job1")
    grid = pd.DataFrame(
        {
            "p_lo": [0.0, 0.0, 0.2],
            "p_hi": [1.0, 0.6, 0.6],
            "keep_fraction": [1.0, 0.6, 0.4],
            "n_train": [32, 19, 13],
            "accuracy": [0.80, 0.78, 0.74],  # the widest cell has the best raw accuracy ...
            "macro_f1": [0.8, 0.78, 0.74],
            "random_accuracy": [0.80, 0.77, 0.66],  # ... but the narrow one beats random at its size by most
            "gain": [0.0, 0.01, 0.08],
            "seconds": [0.1, 0.1, 0.1],
        }
    )
    grid.to_csv(search_grid_path(dataset.id, "information"), index=False)
    model = build_tiny_bert(tmp_path / "bert")
    at = open_page(dataset)
    at.text_input(key="ft_model").set_value(str(model))
    at.button[0].click().run()  # submit the form once so the confirmation uses its model
    assert any("plo 0.20, phi 0.60" in c.value and "+8.0 pt over random" in c.value for c in at.caption)
    at.button(key="ft_confirm").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    kind, args = started[-1]
    assert kind == "finetune" and args["strategies"] == ["interval:0.2-0.6", "random", "full"]
    assert args["seeds"] == [0, 1, 2, 3, 4] and args["sizes"] == [] and args["score"] == "information"
    assert args["config"]["model"] == str(model)

    key = at.session_state["ft_grid_key"]
    assert key == args["grid_key"]
    for seed in range(5):  # the job's runs, as they land in SQLite
        for strategy, acc in (("interval:0.2-0.6", 0.80 + 0.01 * seed), ("random", 0.70 + 0.012 * seed)):
            save_run(dataset.id, key, strategy, 0.4, seed, RunResult(acc, acc, 13, 1.0))
        save_run(dataset.id, key, "full", 1.0, seed, RunResult(0.82, 0.82, 32, 2.0))
    at.run()
    lines = [t.value for t in at.text if " vs random: " in t.value]
    assert lines and lines[0].startswith("size 40 % (13 rows): interval:0.2-0.6 vs random: better by 9.6 pt (95 % CI")
    curve = at.get("plotly_chart")[0].proto.spec
    assert '"arrayminus"' in curve  # error bars are the CI, drawn both ways


def test_selection_study_job_and_its_view(tmp_path):
    """The study job (the search on the pool, fine-tunes of auto / both randoms / full on test) and the page's view."""
    from dataclasses import asdict

    from euds_core.experiments.study import load_study, study_job
    from tests.test_finetune import tiny_config

    ds = Dataset(name="tiny <b>reviews</b>", task="classification", table=tiny_table(120))
    save_dataset(ds)
    options = {"tokenizer": "whitespace", "encoder": "hashing"}
    score_dataset(ds, ["information"], options=options)
    model = build_tiny_bert(tmp_path / "bert")
    messages = []
    args = {
        "dataset_id": ds.id,
        "sizes": [0.25],
        "seeds": [0, 1],
        "scores": ["information"],
        "options": options,
        "config": asdict(tiny_config(model)),
    }
    result = study_job(args, lambda f, m: messages.append((f, m)), lambda: False)
    assert result["cells"] == 3 * 2 + 2  # (auto, random, random:balanced) x 2 seeds at 0.25, full once per seed
    cells, searches = load_study(ds.id)
    assert set(cells.method) == {"auto", "random", "random:balanced", "full"} and len(searches) == 1
    assert messages and any("search" in m for _, m in messages)
    # Resumed: the same study trains nothing new.
    again = study_job(args, lambda f, m: None, lambda: False)
    assert again["cells"] == result["cells"]
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "4_Fine_tune.py"), default_timeout=60)
    at.session_state["dataset_spec"] = ds.id
    at.session_state["score_options"] = options
    at.run()
    assert not at.exception and not at.error
    assert any(t.value.startswith("Search at size 25 %") for t in at.text)
    board = at.dataframe[-1].value
    assert set(board["method"]) == {"auto", "random", "random:balanced", "full"}
    assert at.button(key="ft_study").proto.label == "Run the selection study"


def test_break_even_sweep_starts_a_job_and_draws_the_latest_sweep(dataset, monkeypatch):
    import ui.finetune.view as view
    from euds_core.experiments.inject_sweep import SWEEP_COLUMNS, sweep_dir

    started = []
    monkeypatch.setattr(view, "start_job", lambda kind, args, dataset_id=None: started.append((kind, args)) or "j")
    at = open_page(dataset)
    assert not at.exception and any("No defect-rate sweep yet" in i.value for i in at.info)
    at.text_input(key="ft_sweep_rates").set_value("0, 1.5").run()
    at.button(key="ft_sweep").click().run()
    assert not started and any("--inject rates are fractions" in e.value for e in at.error)
    at.text_input(key="ft_sweep_rates").set_value("0.3, 0").run()
    at.button(key="ft_sweep").click().run()
    assert not at.exception and len(started) == 1
    kind, args = started[0]
    assert kind == "inject_sweep" and args["rates"] == [0.0, 0.3] and args["dataset_id"] == dataset.id
    assert args["scores"] == ["information"]  # the cached scores the sweep can recompute on a noisy pool
    folder = sweep_dir(dataset.id)
    folder.mkdir(parents=True)
    rows = [[0.0, "auto", 0.16, 0.5, -1.0, 2.0, 0.8], [0.3, "auto", 0.16, 2.5, 1.0, 4.0, 0.78]]
    pd.DataFrame(rows, columns=SWEEP_COLUMNS).to_csv(folder / "sweep.csv", index=False)
    at = open_page(dataset)
    assert not at.exception
    assert any(c.key == "ft_sweep_chart" for c in at.get("plotly_chart"))


def test_the_default_strategy_trains_exactly_explores_kept_ids(dataset, tmp_path, monkeypatch):
    """With an interval in the URL the grid's default is the selection vs label-stratified random (3 seeds, light
    settings); the job it starts trains the ids Explore keeps for that interval, after the review overrides."""
    import json

    import ui.finetune.view as view
    from euds_core.curation.decision_log import set_decision
    from euds_core.experiments import selection_check
    from euds_core.selection.intervals import Interval
    from euds_core.storage.workspace import workspace_dir

    started = []
    monkeypatch.setattr(view, "start_job", lambda kind, args, dataset_id=None: started.append((kind, args)) or "job1")
    values = score_dataset(dataset, ["information"], options=OPTIONS)["information"].to_numpy()
    kept = dataset.table["id"][Interval("information", "percentile", lo=0.25, hi=0.75).mask(values, 0)].tolist()
    dropped_by_hand = kept[0]
    set_decision(dataset.id, dropped_by_hand, "drop")
    at = AppTest.from_file(str(REPO_ROOT / "pages" / "4_Fine_tune.py"), default_timeout=60)
    at.session_state["score_options"] = OPTIONS
    for name, value in {"dataset": dataset.id, "score": "information", "plo": "0.25", "phi": "0.75"}.items():
        at.query_params[name] = value
    at.run()
    assert at.multiselect(key="ft_strategies").value == ["selection", "random:balanced"]
    assert at.multiselect(key="ft_sizes").value == [] and at.number_input(key="ft_seeds").value == 3
    assert at.number_input(key="ft_max_len").value == 64
    at.text_input(key="ft_model").set_value(str(build_tiny_bert(tmp_path / "bert")))
    next(b for b in at.button if b.label == "Run grid in the background").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    kind, args = started[0]
    assert kind == "finetune" and args["strategies"] == ["selection", "random:balanced"]
    light = selection_check.LIGHT_CPU_CONFIG  # the speed settings of Explore's check, by default
    assert {k: args["config"][k] for k in ("precision", "freeze_embeddings", "test_sample")} == {
        "precision": light.precision,
        "freeze_embeddings": light.freeze_embeddings,
        "test_sample": light.test_sample,
    }
    saved = json.loads((workspace_dir("selections") / f"{args['selection_key']}.json").read_text())
    assert set(saved) == set(kept) - {dropped_by_hand}


def test_selection_checks_of_other_rows_are_marked_as_an_earlier_selection(monkeypatch):
    """After a review drop the current selection keeps other rows: its older checks must not read as its own."""
    from types import SimpleNamespace

    import ui.shared.selection_checks as checks
    from euds_core.experiments.selection_check import selection_key

    runs = [{"strategy": s, "accuracy": 0.5} for s in ("selection", "random:balanced")]
    result = {"mode": "proxy", "verdict": {}, "trained_rows": 3, "runs": runs, "majority_accuracy": 0.5}
    jobs = [
        SimpleNamespace(status="done", args={"selection_key": selection_key(ids)}, result={**result, "kept": len(ids)})
        for ids in (["a", "b"], ["a", "b", "c"])
    ]
    monkeypatch.setattr(checks, "list_jobs", lambda *a, **k: jobs)

    def page(current):
        from ui.shared.selection_checks import selection_check_results

        selection_check_results("d", current)

    at = AppTest.from_function(page, args=(["b", "a"],)).run()
    lines = [t.value for t in at.text]
    assert lines[0].startswith("2 kept rows · ") and lines[1].startswith("3 kept rows (an earlier selection"), lines
    from ui.shared.verdict_wording import Q_EXPLANATION

    assert [c.value for c in at.caption] == [Q_EXPLANATION]  # q explained once under the checks' lines


def test_sizes_read_as_percent_with_rows_and_q_is_explained(dataset):
    """A selection's size fraction comes from a row count (0.54007 of the pool): the page shows "54 % (17 rows)"
    in its verdict lines and "54 %" on the curve's axis, never the raw float, and explains q once beside them."""
    import json

    from ui.shared.verdict_wording import Q_EXPLANATION

    for seed in (0, 1, 2):
        for strategy, acc in (("selection", 0.8 + 0.01 * seed), ("random:balanced", 0.6 - 0.02 * seed)):
            save_run(dataset.id, "k2", strategy, 0.54007, seed, RunResult(acc, acc - 0.05, 17, 1.0))
    at = open_page(dataset)
    assert not at.exception
    lines = [t.value for t in at.text if "selection vs random:balanced" in t.value]
    assert lines and lines[0].startswith(
        "size 54 % (17 rows): selection vs random:balanced (its matching baseline): "
    ), lines
    shown = [e.value for e in (*at.text, *at.caption, *at.markdown, *at.info)]
    assert not any("0.54007" in v or "0.540" in v for v in shown)
    assert shown.count(Q_EXPLANATION) == 1 and "q < 0.05" in Q_EXPLANATION
    axis = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["xaxis"]
    assert axis["ticktext"] == ["54 %"] and axis["tickvals"] == [0.54007]


def test_a_running_grid_names_its_run_by_a_readable_size():
    def running_job():
        from types import SimpleNamespace

        from ui.finetune.view import job_progress

        message = "selection @ 0.54007, seed 1: step 3 of 10"
        job = SimpleNamespace(id="j", active=True, progress=0.5, eta_seconds=30, message=message, status="running")
        job_progress(job, key="ft")

    at = AppTest.from_function(running_job).run()
    assert not at.exception
    assert [t.value for t in at.text] == ["selection @ 54 %, seed 1: step 3 of 10"]


def test_the_sidebar_names_a_grid_run_by_a_readable_size_and_a_queued_job_by_its_wait():
    def sidebar():
        from types import SimpleNamespace

        import ui.shared.jobs_view as jobs_view

        def job(job_id, message):
            return SimpleNamespace(
                id=job_id, kind="finetune", args={}, active=True, progress=0.5, eta_seconds=30, status="running",
                message=message, cancel_requested=False, created=0.0, dataset_id="d",
            )  # fmt: skip

        saved = jobs_view.list_jobs, jobs_view._job_dataset_name
        jobs_view.list_jobs = lambda *a, **k: [job("a", "selection @ 0.54007, seed 1"), job("b", None)]
        jobs_view._job_dataset_name = lambda _job: "news.csv"
        try:
            jobs_view._running_jobs_panel()
        finally:
            jobs_view.list_jobs, jobs_view._job_dataset_name = saved

    at = AppTest.from_function(sidebar).run()
    assert not at.exception
    texts = [t.value for t in at.text]
    assert "news.csv — selection @ 54 %, seed 1" in texts
    assert any(t.startswith("news.csv — starting · ") for t in texts)


def test_size_text_is_short_and_never_claims_the_whole_pool():
    from ui.shared.verdict_wording import size_text

    assert [size_text(f) for f in (0.54007, 0.1, 1.0, 0.0125, 0.9996)] == ["54 %", "10 %", "100 %", "1.2 %", "99.9 %"]
    assert size_text(0.16, 1_234) == "16 % (1,234 rows)"

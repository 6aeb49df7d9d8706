"""The break-even picture: ``benchmark --inject RATE[,RATE...]`` sweeps the defect rate.

For each rate the dataset's stratified test split is held out untouched and defects are injected into the
rest at that total share (:func:`euds_core.data.defects.rates_for_total`); the benchmark (leaderboard, every
method vs random) and the curation study (auto-curate vs random at its size, the full noisy pool and the clean
rows, defect recall/precision) run on that pool with the held-out rows as its test file, in ``DIR/rate-R/``.
``DIR/sweep.csv``, ``DIR/sweep.md`` and ``DIR/sweep.html`` / ``DIR/sweep.png`` then show the gain over random
(points) against the rate, one line per (method, size) for ``auto`` and ``curate``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError

SWEEP_COLUMNS = ["rate", "method", "size_fraction", "gain_pt", "gain_ci_low_pt", "gain_ci_high_pt", "accuracy"]


def parse_rates_list(text: str) -> list[float]:
    try:
        rates = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise EudsInputError(f"--inject takes comma-separated defect rates, e.g. 0,0.15,0.3; got '{text}'") from None
    if not rates or any(not 0.0 <= r < 0.9 for r in rates):
        raise EudsInputError("--inject rates are fractions in [0, 0.9), e.g. 0,0.15,0.3")
    return sorted(set(rates))


def noisy_dataset(dataset, rate: float, *, test_fraction: float, split_seed: int, seed: int = 0):
    """The dataset with its test split held out clean and defects at total share ``rate`` in the rest, as one
    dataset whose test rows are the held-out ones (``rate`` 0: no defects, the same split)."""
    from euds_core.data.defects import rates_for_total
    from euds_core.data.test_file import attach_test_file
    from euds_core.experiments.defect_pools import inject_dataset

    rates = rates_for_total(rate) if rate > 0 else {"label_flip": 0.0}
    noisy = inject_dataset(dataset, rates, seed=seed, hold_out=test_fraction, split_seed=split_seed)
    return attach_test_file(noisy.pool, noisy.test).dataset


def run_inject_sweep(dataset, config, out_dir, rates: list[float], *, progress=None, cancel=None) -> pd.DataFrame:
    """Every rate's benchmark and curation study; returns (and writes) the sweep table."""
    from euds_core.experiments.benchmark import run_benchmark
    from euds_core.experiments.curation_study import run_curation_study
    from euds_core.experiments.leaderboard import write_leaderboard

    out_dir = Path(out_dir)
    rows = []
    for rate in rates:
        folder = out_dir / f"rate-{rate:g}"
        folder.mkdir(parents=True, exist_ok=True)
        data = noisy_dataset(dataset, rate, test_fraction=config.test_fraction, split_seed=config.split_seed)
        if progress:
            progress(0, 0, f"defect rate {rate:g}: {len(data.table)} rows")
        cells = run_benchmark(data, config, folder, progress=progress, cancel=cancel)
        board = write_leaderboard(cells, folder, mode=config.mode, run_keys=[cells.attrs["run_key"]])
        study = run_curation_study(data, config, folder, progress=progress, cancel=cancel)
        for r in board[board["method"].isin(["auto", "full"])].itertuples():
            rows.append([rate, r.method, r.size_fraction, r.gain_pt, r.gain_ci_low_pt, r.gain_ci_high_pt, r.accuracy])
        gain = study.get("curate_minus_random_pt", np.nan)
        share = study["kept_rows"] / max(study["pool_rows"], 1)
        rows.append([rate, "curate", round(share, 3), gain, np.nan, np.nan, study["accuracy"].get("curate", np.nan)])
        if "clean" in study["accuracy"]:
            rows.append([rate, "clean", np.nan, np.nan, np.nan, np.nan, study["accuracy"]["clean"]])
    sweep = pd.DataFrame(rows, columns=SWEEP_COLUMNS)
    write_sweep(sweep, out_dir, dataset.name)
    return sweep


def write_sweep(sweep: pd.DataFrame, out_dir: Path, name: str) -> None:
    from euds_core.storage.atomic_files import atomic_path, write_text_atomic

    with atomic_path(out_dir / "sweep.csv") as tmp:
        sweep.to_csv(tmp, index=False)
    write_text_atomic(out_dir / "sweep.md", sweep_markdown(sweep, name))
    figure = sweep_figure(sweep, name)
    with atomic_path(out_dir / "sweep.html") as tmp:
        figure.write_html(tmp, include_plotlyjs=True)
    write_png(sweep, out_dir / "sweep.png", name)


def sweep_markdown(sweep: pd.DataFrame, name: str) -> str:
    lines = [
        f"# Defect-rate sweep · {name}",
        "",
        "Gain over random at the same size (accuracy points, test split; `curate` at the recipe's own size,",
        "paired by seed) against the injected defect rate. `full` = the whole noisy pool; `clean` = its",
        "unflagged rows (accuracy only).",
        "",
        "| rate | method | size | gain over random (pt) | accuracy |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in sweep.itertuples():
        size = "" if pd.isna(r.size_fraction) else f"{r.size_fraction:g}"
        gain = "" if pd.isna(r.gain_pt) else f"{r.gain_pt:+.1f}"
        lines.append(f"| {r.rate:g} | {r.method} | {size} | {gain} | {r.accuracy:.3f} |")
    return "\n".join(lines) + "\n"


def sweep_lines(sweep: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{line name: (rate, gain) rows}: auto at each size, and curate."""
    lines = {}
    for size, part in sweep[sweep["method"] == "auto"].groupby("size_fraction"):
        lines[f"auto @ {size:g}"] = part.sort_values("rate")
    curate = sweep[sweep["method"] == "curate"]
    if len(curate):
        lines["curate (its own size)"] = curate.sort_values("rate")
    return lines


def sweep_figure(sweep: pd.DataFrame, name: str):
    import plotly.graph_objects as go

    figure = go.Figure()
    for label, part in sweep_lines(sweep).items():
        figure.add_trace(go.Scatter(x=part["rate"], y=part["gain_pt"], mode="lines+markers", name=label))
    figure.add_hline(y=0.0, line_dash="dot")
    figure.update_layout(
        title=f"{name}: gain over random vs injected defect rate",
        xaxis_title="defect rate (share of pool rows)",
        yaxis_title="gain over random (accuracy points)",
    )
    return figure


def write_png(sweep: pd.DataFrame, path: Path, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from euds_core.storage.atomic_files import atomic_path

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, part in sweep_lines(sweep).items():
        ax.plot(part["rate"], part["gain_pt"], marker="o", label=label)
    ax.axhline(0.0, color="grey", linestyle=":")
    ax.set_xlabel("defect rate (share of pool rows)")
    ax.set_ylabel("gain over random (accuracy points)")
    ax.set_title(f"{name}: gain over random vs defect rate")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- the app's job

SWEEP_METHODS = ["random", "random:balanced", "full", "auto"]
DEFAULT_SWEEP_RATES = (0.0, 0.15, 0.3)


def sweep_dir(dataset_id: str) -> Path:
    """Where the Selection study's defect-rate sweep of a dataset keeps its folders and ``sweep.*`` files."""
    from euds_core.storage.workspace import workspace_dir

    return workspace_dir("inject_sweep") / dataset_id


def sweep_config(args: dict):
    """The sweep job's benchmark settings: linear proxy, the study's methods (each noisy pool is scored anew)."""
    from euds_core.experiments.benchmark import BenchmarkConfig
    from euds_core.experiments.study import page_job_fields

    return BenchmarkConfig(mode="proxy", **page_job_fields(args), methods=list(SWEEP_METHODS), samplers=False)


def sweep_job(args: dict, update, cancelled) -> dict:
    """The ``inject_sweep`` job: args = {dataset_id, rates, sizes, seeds, scores, options}; the files in
    :func:`sweep_dir` (a rerun resumes each rate's finished cells and searches)."""
    from euds_core.data.datasets import load_saved_dataset

    dataset = load_saved_dataset(args["dataset_id"])
    rates = [float(r) for r in args.get("rates", DEFAULT_SWEEP_RATES)]
    state = {"rate": 0}

    def progress(done: int, total: int, message: str) -> None:
        if message.startswith("defect rate "):
            state["rate"] += 1
        step = (done / total) if total else 0.0
        update(min((state["rate"] - 1 + step) / len(rates), 0.99), message)

    sweep = run_inject_sweep(
        dataset, sweep_config(args), sweep_dir(dataset.id), rates, progress=progress, cancel=cancelled
    )
    return {"rates": rates, "rows": len(sweep)}


def load_sweep(dataset_id: str) -> pd.DataFrame | None:
    """The latest sweep table of a dataset (None: none finished yet)."""
    path = sweep_dir(dataset_id) / "sweep.csv"
    return pd.read_csv(path) if path.exists() else None

"""Train this selection: the rows Explore keeps against a label-stratified random subset of the same size, with
the same seeds and the same test split; by the linear proxy on cached embeddings (seconds) or, on request, by real
fine-tunes (:func:`~euds_core.experiments.training.train_and_evaluate`).

The selection is given as sample ids (Explore's kept rows after the review overrides). Kept rows that fall in the
test split are never trained on: the trained rows are the kept ids inside the pool, and the result says how many
kept rows the test split held. The random side draws, per seed, as many pool rows as the selection trains on,
each label keeping its pool share (:func:`~euds_core.experiments.proxy.random_rows`). The verdict is the paired
comparison of :func:`~euds_core.experiments.statistics.paired_verdicts` (a two-level bootstrap over seeds and
test rows, 95 % interval); the full pool and the majority class are measured beside it on the same test split.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.experiments.proxy import linear_proxy_predictions, proxy_features, random_rows
from euds_core.experiments.splits import ExperimentSplit, evaluation_split, table_split
from euds_core.experiments.statistics import BALANCED_BASELINE, pack_correct, paired_verdicts
from euds_core.experiments.training import FinetuneConfig, train_and_evaluate

SELECTION = "selection"
# The fine-tune's light defaults (docs/experiments.md, "Train this selection"): 1 epoch, 64 tokens, bf16 autocast
# where the CPU multiplies bf16 natively, frozen word embeddings, at most 1,000 test rows (a fixed sample).
LIGHT_CPU_CONFIG = FinetuneConfig(epochs=1, max_len=64, precision="bf16", freeze_embeddings=True, test_sample=1000)
DEFAULT_SEEDS = {"proxy": 5, "finetune": 3}
Progress = Callable[[float, str], None]


def selection_key(kept_ids: list[str]) -> str:
    """A short digest of the selected ids (order-free): which selection a result belongs to."""
    return hashlib.sha256("\x1f".join(sorted(map(str, kept_ids))).encode()).hexdigest()[:16]


def config_split(table: pd.DataFrame, config: FinetuneConfig) -> ExperimentSplit:
    """The test split / pool of ``config``, evaluated on its fixed test sample when it sets one."""
    split = table_split(table, test_fraction=config.test_fraction, split_seed=config.split_seed)
    return evaluation_split(split, config.test_sample, config.split_seed)


def selection_train_rows(table: pd.DataFrame, kept_ids: list[str], split: ExperimentSplit) -> tuple[np.ndarray, int]:
    """(sorted pool rows whose id is kept, how many kept rows are in the test split)."""
    kept = table["id"].astype(str).isin(set(map(str, kept_ids))).to_numpy()
    in_pool = np.zeros(len(table), dtype=bool)
    in_pool[split.pool] = True
    return np.flatnonzero(kept & in_pool), int((kept & ~in_pool).sum())  # outside the pool = in the test split


def random_twin(table: pd.DataFrame, pool: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` pool rows at random, label-stratified (each label keeps its pool share), seeded by ``seed``."""
    labels = table["label"].astype(str).to_numpy()
    return random_rows(pool, count, np.random.default_rng(seed), labels)


def _run_row(strategy: str, size: float, seed: int, correct: np.ndarray, n_train: int, seconds: float) -> dict:
    return {
        "strategy": strategy,
        "size_fraction": size,
        "seed": seed,
        "accuracy": float(correct.mean()),
        "correct": pack_correct(correct),
        "n_train": n_train,
        "seconds": seconds,
    }


def _train(mode: str, table, rows, split, seed: int, *, x, y, config, cancel) -> np.ndarray:
    """0/1 correctness on the test split of one training on ``rows``."""
    if mode == "proxy":
        return (linear_proxy_predictions(x, y, rows, split.test) == y[split.test]).astype(np.float64)
    result = train_and_evaluate(
        table, rows, split.test, task="classification", config=config, seed=seed, pool=split.pool, cancel=cancel
    )
    return np.asarray(result.correct, dtype=np.float64)


def check_selection(
    table: pd.DataFrame,
    kept_ids: list[str],
    *,
    mode: str = "proxy",
    seeds: int | None = None,
    embeddings: np.ndarray | None = None,
    config: FinetuneConfig = LIGHT_CPU_CONFIG,
    with_full: bool | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> dict:
    """Train the selection and its random twin per seed (``mode`` proxy or finetune); a JSON-able result with the
    runs, the verdict against random, the full pool's accuracy and the majority-class baseline."""
    if "label" not in table.columns:
        raise EudsInputError("training a selection needs a label column (choose one on the Load page)")
    if mode == "proxy" and embeddings is None:
        raise EudsInputError("the proxy needs the encoder embeddings: score semantic first (Score page)")
    seeds = int(seeds or DEFAULT_SEEDS[mode])
    with_full = (
        mode == "proxy" if with_full is None else with_full
    )  # the full pool: seconds by proxy, long by fine-tune
    split = config_split(table, config)
    rows, kept_in_test = selection_train_rows(table, kept_ids, split)
    if len(rows) < 2 or len(np.unique(table["label"].to_numpy()[rows])) < 2:
        raise EudsInputError(f"the selection keeps {len(rows)} pool rows: too few (or one label only) to train on")
    y = table["label"].astype(str).to_numpy()
    x = proxy_features(embeddings, split.pool) if mode == "proxy" else None
    size = round(len(rows) / len(split.pool), 6)
    plan = [(SELECTION, s) for s in range(seeds)] + [(BALANCED_BASELINE, s) for s in range(seeds)]
    plan += [("full", 0)] if with_full else []
    runs = []
    for i, (strategy, seed) in enumerate(plan):
        if cancel is not None and cancel():
            raise ScoringCancelled(f"cancelled after {i} of {len(plan)} trainings")
        if progress:
            progress(i / len(plan), f"training {i + 1} of {len(plan)}: {strategy}, seed {seed}")
        train = {SELECTION: rows, "full": split.pool}.get(strategy)
        train = random_twin(table, split.pool, len(rows), seed) if train is None else train
        started = time.monotonic()
        correct = _train(mode, table, train, split, seed, x=x, y=y, config=config, cancel=cancel)
        runs.append(_run_row(strategy, size, seed, correct, len(train), time.monotonic() - started))
    return _summary(runs, mode, config, y[split.test], rows, kept_ids, kept_in_test, split)


def _summary(runs, mode, config, test_labels, rows, kept_ids, kept_in_test, split) -> dict:
    frame = pd.DataFrame(runs)
    paired = frame[frame["strategy"] != "full"]
    verdicts = paired_verdicts(paired, balanced={SELECTION})
    verdict = verdicts[verdicts["matched"]].iloc[0].to_dict() if len(verdicts) else {}
    _, counts = np.unique(test_labels, return_counts=True)
    full = frame[frame["strategy"] == "full"]["accuracy"]
    return {
        "mode": mode,
        "selection_key": selection_key(kept_ids),
        "kept": len(kept_ids),
        "trained_rows": len(rows),
        "kept_in_test": kept_in_test,
        "pool_rows": len(split.pool),
        "test_rows": len(split.test),
        "config": asdict(config) if mode == "finetune" else {},
        "runs": frame.drop(columns=["correct"]).to_dict("records"),
        "verdict": {k: (v.item() if hasattr(v, "item") else v) for k, v in verdict.items()},
        "full_accuracy": float(full.iloc[0]) if len(full) else None,
        "majority_accuracy": float(counts.max() / counts.sum()),
    }


def majority_accuracy(table: pd.DataFrame, config: FinetuneConfig = LIGHT_CPU_CONFIG) -> float | None:
    """The accuracy of always answering the test split's most frequent label (None without labels)."""
    if "label" not in table.columns:
        return None
    split = config_split(table, config)
    _, counts = np.unique(table["label"].astype(str).to_numpy()[split.test], return_counts=True)
    return float(counts.max() / counts.sum()) if len(counts) else None


def finetune_seconds_estimate(trained_rows: int, pool_rows: int, seeds: int, seconds_per_row: float, epochs: int = 1):
    """Seconds the fine-tune check will take: (selection + random) x seeds on ``trained_rows`` rows, the full pool
    once, each row ``epochs`` times at ``seconds_per_row`` (measured on this machine by earlier runs)."""
    return seconds_per_row * epochs * (2 * seeds * trained_rows + pool_rows)


def save_selection_ids(kept_ids: list[str]) -> str:
    """Store the selected ids in the workspace (``selections/<key>.json``) for a job to read; returns the key."""
    import json

    from euds_core.storage.atomic_files import write_text_atomic
    from euds_core.storage.workspace import workspace_dir

    key = selection_key(kept_ids)
    path = workspace_dir("selections") / f"{key}.json"
    if not path.exists():
        write_text_atomic(path, json.dumps(sorted(map(str, kept_ids))))
    return key


def load_selection_ids(key: str) -> list[str]:
    import json

    from euds_core.storage.workspace import workspace_dir

    path = workspace_dir("selections") / f"{key}.json"
    if not path.exists():
        raise EudsInputError(f"no saved selection {key} in the workspace; press the button again")
    return json.loads(path.read_text())


def check_job(args: dict, update: Progress, cancelled: Callable[[], bool]) -> dict:
    """The ``train_selection`` job: args = {dataset_id, selection_key, mode, seeds, encoder, config}."""
    from euds_core.data.datasets import load_saved_dataset
    from euds_core.models.embeddings import load_cached_embeddings

    dataset = load_saved_dataset(args["dataset_id"])
    embeddings = None
    if args["mode"] == "proxy":
        embeddings = load_cached_embeddings(dataset.id, len(dataset.table), args["encoder"])
    config = FinetuneConfig(**args["config"]) if args.get("config") else LIGHT_CPU_CONFIG
    result = check_selection(
        dataset.table,
        load_selection_ids(args["selection_key"]),
        mode=args["mode"],
        seeds=args.get("seeds"),
        embeddings=embeddings,
        config=config,
        with_full=args.get("with_full"),
        progress=update,
        cancel=cancelled,
    )
    update(1.0, "done")
    return result

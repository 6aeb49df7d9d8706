"""The ``finetune`` and ``search-interval`` commands (docs/cli.md, docs/experiments.md), registered by euds_core/cli/__init__.py.

``finetune DATASET --scores-file FILE.parquet --score NAME --sizes ... --strategies interval,random
[--seeds S] [--epochs E] [--max-len L] [--limit N] [--band B] [--model PATH] --out RESULTS.csv`` writes
``strategy,size_fraction,n_train,seed,accuracy,macro_f1,train_seconds`` and prints one verdict line per
(strategy, size) against random at the same size and seeds. ``--strategies interval:0.2-0.6,random,full`` (or
``--plo 0.2 --phi 0.6``) confirms one explicit percentile interval.

``search-interval FILE.parquet --score NAME --label-col C [--min-keep F] --out GRID.csv`` writes
``p_lo,p_hi,keep_fraction,n_train,accuracy,macro_f1,seconds``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from euds_core.cli.arguments import add_dataset_args, load_dataset_from_args
from euds_core.cli.curation_commands import add_curation_args, add_test_file_arg, check_test_file, with_test_file
from euds_core.data.table_io import check_output_path, read_scores_file, write_table
from euds_core.errors import EudsInputError
from euds_core.experiments.splits import DEFAULT_VAL_FRACTION

# Strategies that read no score: the selection (given ids), random and the full pool, each at its own size or
# (random) at the others'.
SCORE_FREE_STRATEGIES = ("selection", "random", "random:balanced", "full")


def add_parsers(sub) -> None:
    add_finetune_parser(sub)
    add_search_interval_parser(sub)
    add_benchmark_parser(sub)
    add_search_selection_parser(sub)


def add_finetune_parser(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune a classifier on subsets: accuracy vs subset size per strategy")
    add_dataset_args(p)
    p.add_argument(
        "--scores-file", help="a file written by `score` for the same data (needed by interval and score strategies)"
    )
    p.add_argument("--score", help="the score behind the interval strategy, e.g. igse")
    p.add_argument(
        "--band", default="middle", help="where the interval sits: low | middle | high | an offset in [0, 1]"
    )
    p.add_argument(
        "--sizes",
        help="comma-separated size fractions of the training pool (default 0.05,0.1,0.16,0.25,0.5,1.0; "
        "with only explicit intervals: their own widths)",
    )
    p.add_argument(
        "--strategies",
        help="comma-separated: selection, interval, interval:P_LO-P_HI (e.g. interval:0.2-0.6), random, "
        "random:balanced, full, a score name, a sampler name (default: interval,random; with --train-ids: "
        "selection,random:balanced)",
    )
    p.add_argument(
        "--train-ids",
        help="the selection strategy's rows: a file with an `id` column (what `export` writes; .csv/.jsonl/"
        ".parquet or an hf folder); its pool rows are trained against label-stratified random at their size",
    )
    p.add_argument(
        "--label-balanced",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="score bands (interval, interval:a-b, a score name) within each label group, keeping the pool's "
        "label proportions (default: on for classification; --no-label-balanced turns it off)",
    )
    p.add_argument("--plo", type=float, help="with --phi: confirm the interval strategy interval:PLO-PHI")
    p.add_argument("--phi", type=float, help="upper percentile of --plo's interval")
    p.add_argument("--seeds", default="1", help="number of seeds (3 -> 0,1,2) or a comma-separated list (e.g. 7,8)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-len", type=int, default=128, help="tokens per text (pair, for Q&A)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument(
        "--test-fraction", type=float, default=0.2, help="fixed stratified test split removed before selection"
    )
    p.add_argument(
        "--split-seed", type=int, default=0, help="the seed of the test split (a search's --seed; default 0)"
    )
    add_test_file_arg(p)
    p.add_argument("--model", help="local BERT-family model folder (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--out", required=True, help="output .csv")


def add_search_interval_parser(sub) -> None:
    p = sub.add_parser("search-interval", help="grid-search the percentile interval of a score with a cheap proxy")
    p.add_argument("scores_file", help="a file written by `score` (with text and labels)")
    p.add_argument("--score", required=True, help="score column, e.g. igse")
    p.add_argument("--label-col", default="label", help="label column in the file (default: label)")
    p.add_argument("--min-keep", type=float, default=0.2, help="smallest kept fraction of a cell (default 0.2)")
    p.add_argument("--step", type=float, default=0.1, help="grid step of p_lo and p_hi (default 0.1)")
    p.add_argument(
        "--val-fraction", type=float, default=0.2, help="validation split drawn from inside the pool (default 0.2)"
    )
    p.add_argument("--test-fraction", type=float, default=0.2, help="the test split left out (finetune's; default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="the split seed (finetune's split seed is 0)")
    p.add_argument("--random-draws", type=int, default=3, help="random subsets per size behind each cell's gain")
    p.add_argument(
        "--label-balanced",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="rank the score within each label group, so every cell keeps the label proportions (default: on)",
    )
    p.add_argument(
        "--encoder",
        help="frozen encoder folder (default: the packaged all-MiniLM-L6-v2; `hashing` for a model-free one)",
    )
    add_test_file_arg(p)
    p.add_argument("--out", required=True, help="output .csv")


def add_search_selection_parser(sub) -> None:
    p = sub.add_parser(
        "search-selection",
        help="search scores x bands x label balance x near-duplicate removal for a selection that beats random",
    )
    p.add_argument("scores_file", help="a file written by `score` (with text and labels)")
    p.add_argument("--label-col", default="label", help="label column in the file (default: label)")
    p.add_argument("--scores", help="comma-separated score columns to search (default: every score column)")
    p.add_argument("--sizes", default="0.1,0.16", help="size fractions to search at (default 0.1,0.16)")
    add_selection_search_args(p)
    p.add_argument("--test-fraction", type=float, default=0.2, help="the test split left out (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="the split seed (finetune's split seed is 0)")
    p.add_argument("--encoder", help="frozen encoder folder or `hashing` (default: the packaged MiniLM)")
    add_test_file_arg(p)
    p.add_argument("--out", required=True, help="output .csv: every candidate with its gains")


def add_selection_search_args(p) -> None:
    """The selection search's options, one set of defaults for `search-selection` and `benchmark`'s auto method."""
    p.add_argument("--step", type=float, default=0.1, help="the search's grid step of p_lo (default 0.1)")
    p.add_argument("--random-draws", type=int, default=5, help="random subsets per size behind each gain (default 5)")
    p.add_argument("--folds", type=int, default=3, help="the search's cross-fitting folds of the pool (default 3)")
    p.add_argument(
        "--permutations",
        type=int,
        default=19,
        help="searches on permuted scores a winner must beat (default 19: p <= 0.05 means it beat all of them)",
    )


def add_benchmark_parser(sub) -> None:
    p = sub.add_parser(
        "benchmark", help="datasets x methods x sizes x seeds on the untouched test split: a leaderboard vs random"
    )
    p.add_argument("datasets", nargs="+", metavar="DATASET", help="built-in names or .csv/.jsonl/.parquet files")
    p.add_argument("--text-col", help="column holding the text")
    p.add_argument("--label-col", help="column holding the class label")
    p.add_argument("--id-col", help="column holding a unique sample id (default: row number)")
    p.add_argument("--limit", type=int, help="a seeded random sample of N rows of each dataset")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--proxy", action="store_true", help="a linear proxy on cached frozen embeddings (minutes)")
    mode.add_argument("--finetune", action="store_true", help="the real fine-tune of each subset (hours on CPU)")
    p.add_argument("--sizes", default="0.1,0.16", help="size fractions of the pool (default 0.1,0.16)")
    p.add_argument("--seeds", default="3", help="number of seeds (3 -> 0,1,2) or a comma-separated list")
    p.add_argument(
        "--scores",
        help="scores to score, band and search (default: information,semantic,is and the literature scores that "
        "need no causal LM; add generative,igse with --lm)",
    )
    p.add_argument("--encoder", help="sentence encoder folder or 'hashing' (default: the packaged MiniLM)")
    p.add_argument("--tokenizer", help="tokenizer folder or 'whitespace' for the information score")
    p.add_argument("--lm", help="causal LM folder or .gguf file (generative, igse)")
    p.add_argument(
        "--label-balanced",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="score bands within each label group (default: on)",
    )
    p.add_argument("--no-samplers", action="store_true", help="leave the samplers (MIG, k-center, ...) out")
    p.add_argument(
        "--methods",
        help="train only these methods, e.g. random,full,auto,igse:middle (default: all; finished cells of a "
        "run with the same settings are reused whatever the methods or sizes)",
    )
    add_selection_search_args(p)
    add_benchmark_split_args(p)
    add_test_file_arg(p)
    add_curation_args(p)
    p.add_argument("--model", help="--finetune: local BERT-family folder (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--epochs", type=int, default=1, help="--finetune: epochs")
    p.add_argument("--max-len", type=int, default=128, help="--finetune: tokens per text")
    p.add_argument("--device", default="auto", help="--finetune: auto | cpu | cuda")
    p.add_argument("--out", required=True, help="output folder: leaderboard.csv, leaderboard.md, cells.csv")


def add_benchmark_split_args(p) -> None:
    """The benchmark's test split, its pool's decontamination, and the proxy-fidelity sample."""
    p.add_argument(
        "--drop-test-duplicates",
        action="store_true",
        help="remove pool rows that near-duplicate a test row (cosine >= 0.95; they are reported either way)",
    )
    p.add_argument("--test-fraction", type=float, default=0.2, help="the fixed stratified test split")
    p.add_argument(
        "--fidelity",
        type=int,
        default=0,
        metavar="N",
        help="fine-tune a seeded sample of N (>= 8) candidate methods and print how well the linear proxy ranks "
        "them as the fine-tune does (Spearman, Kendall); implies --finetune; methods scored by the proxy's own "
        "kind of model (classifier_entropy, margin, el2n, ...) are left out",
    )


def parse_floats(text: str, option: str) -> list[float]:
    try:
        return [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise EudsInputError(f"{option} must be comma-separated numbers, e.g. 0.16,0.5,1.0; got '{text}'") from None


def parse_seeds(text: str) -> list[int]:
    """``3`` -> [0, 1, 2]; ``7,8`` -> [7, 8]."""
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise EudsInputError(
            f"--seeds must be a count (3) or a comma-separated list of integers (7,8); got '{text}'"
        ) from None
    if not values:
        raise EudsInputError("--seeds is empty; e.g. --seeds 3")
    if "," not in str(text):
        if values[0] < 1:
            raise EudsInputError("--seeds must be at least 1")
        return list(range(values[0]))
    return values


def finetune_config_from_args(args):
    """The fine-tune settings of ``finetune`` and ``benchmark`` (benchmark has no --batch-size/--lr: defaults)."""
    from euds_core.experiments.training import FinetuneConfig
    from euds_core.models.loading import DEFAULT_ENCODER

    tuning = {k: getattr(args, k) for k in ("batch_size", "lr") if getattr(args, k, None) is not None}
    return FinetuneConfig(
        model=args.model or DEFAULT_ENCODER,
        epochs=args.epochs,
        max_len=args.max_len,
        test_fraction=args.test_fraction,
        split_seed=getattr(args, "split_seed", 0),
        device=args.device,
        **tuning,
    )


def cmd_finetune(args) -> int:
    from euds_core.data.datasets import save_dataset
    from euds_core.experiments.finetune import GridSpec, with_selection
    from euds_core.experiments.run_store import RESULT_COLUMNS
    from euds_core.models.loading import resolve_encoder_path

    out = check_output_path(args.out, (".csv",))
    strategies = finetune_strategies(args)
    config = finetune_config_from_args(args)
    spec = GridSpec(
        strategies=strategies,
        sizes=default_sizes(args.sizes, strategies),
        seeds=parse_seeds(args.seeds),
        score=args.score,
        band=args.band,
        config=config,
    )
    check_train_ids_arg(args, strategies)
    resolve_encoder_path(config.model)  # a wrong --model fails now, not after loading the data
    check_strategy_inputs(args, strategies)
    pool_table = load_dataset_from_args(args).table if args.test_file else None
    dataset = with_test_file(load_dataset_from_args(args), args)
    if dataset.task not in ("classification", "qa"):
        raise EudsInputError("fine-tuning needs labels (--label-col) or Q&A columns (--question-col and --answer-col)")
    spec.label_balanced = dataset.task == "classification" if args.label_balanced is None else args.label_balanced
    if spec.label_balanced and dataset.task != "classification":
        raise EudsInputError("--label-balanced needs class labels (--label-col); Q&A data has none")
    if args.train_ids:
        spec = with_selection(spec, dataset.table, read_train_ids(args.train_ids, dataset.table["id"]))
    spec.check()
    scores = None
    if args.scores_file:
        scores = strategy_scores(args, dataset.table if pool_table is None else pool_table, strategies)
        scores = scores.reindex(range(len(dataset.table)))  # test-file rows: no scores (no choice reads them)
    dataset_id = save_dataset(dataset)
    runs = run_grid_with_progress_bar(dataset_id, dataset, spec, scores, refit_options(args))
    write_table(runs[RESULT_COLUMNS], out)
    print_curve_and_verdicts(runs, spec.balanced_strategies())
    print(f"wrote {len(runs)} runs to {out}  [dataset id {dataset_id}]")
    return 0


def check_train_ids_arg(args, strategies: list[str]) -> None:
    """``--train-ids`` and the ``selection`` strategy go together (the page's selection is Explore's kept rows;
    the command's is a file of ids)."""
    from euds_core.experiments.subsets import SELECTION

    if SELECTION in strategies and not args.train_ids:
        raise EudsInputError(
            "the selection strategy trains the rows of a file: pass --train-ids FILE (e.g. what `export` wrote)"
        )
    if args.train_ids and SELECTION not in strategies:
        raise EudsInputError("--train-ids is the selection strategy's rows: add selection to --strategies")


def read_train_ids(path: str, known_ids: pd.Series) -> list[str]:
    """The ``id`` column of ``path`` (an export, or any table with that column), every id one of ``known_ids``."""
    from euds_core.curation.decision_inputs import check_sample_ids
    from euds_core.data.readers import read_table_file

    frame = read_table_file(path)
    if "id" not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:10]))
        raise EudsInputError(f"--train-ids needs an `id` column (as `export` writes); {path} has: {shown}")
    ids = frame["id"].astype(str).tolist()
    if not ids:
        raise EudsInputError(f"--train-ids: {path} lists no ids")
    check_sample_ids(ids, known_ids)
    return ids


def check_strategy_inputs(args, strategies: list[str]) -> None:
    """Strategies other than random/full need ``--scores-file``; an interval strategy also needs ``--score``."""
    from euds_core.experiments.subsets import parse_interval_strategy

    needs_scores = [s for s in strategies if s not in SCORE_FREE_STRATEGIES]
    if needs_scores and not args.scores_file:
        raise EudsInputError(
            f"the strategies {', '.join(needs_scores)} need scores: pass --scores-file (written by `score`)"
        )
    if any(s == "interval" or parse_interval_strategy(s) for s in strategies) and not args.score:
        raise EudsInputError("the interval strategy needs --score (e.g. --score igse)")


def strategy_scores(args, table: pd.DataFrame, strategies: list[str]) -> pd.DataFrame:
    """The score columns the strategies read from ``--scores-file``, aligned to the rows of ``table``."""
    from euds_core.experiments.finetune import align_scores
    from euds_core.experiments.subsets import BASE_STRATEGIES, parse_interval_strategy, sampler_names

    frame = read_scores_file(args.scores_file)
    samplers = sampler_names()
    names = [
        n
        for n in [args.score, *strategies]
        if n
        and n not in BASE_STRATEGIES
        and parse_interval_strategy(n) is None
        and (n in frame.columns or n not in samplers)
    ]
    return align_scores(table, frame, list(dict.fromkeys(names)))


def run_grid_with_progress_bar(
    dataset_id: str, dataset, spec, scores: pd.DataFrame | None, options: dict | None = None
) -> pd.DataFrame:
    """The grid with a progress bar; ``options`` (the scores file's encoder) refit the pool-fitted scores."""
    from tqdm import tqdm

    from euds_core.experiments.finetune import run_grid

    overall = tqdm(total=len(spec.plan()), desc="runs", unit="run", file=sys.stderr, dynamic_ncols=True)
    state = {"done": 0}

    def progress(done: int, total: int, fraction: float, message: str) -> None:
        overall.update(done - state["done"])
        state["done"] = done
        overall.set_postfix_str(f"{message} ({fraction * 100:.0f}%)"[:90], refresh=False)

    try:
        return run_grid(
            dataset_id, dataset.table, spec, task=dataset.task, scores=scores, score_options=options, progress=progress
        )
    finally:
        overall.close()


def finetune_strategies(args) -> list[str]:
    """``--strategies``, with ``--plo/--phi`` turning ``interval`` into the explicit ``interval:PLO-PHI``."""
    from euds_core.experiments.subsets import interval_strategy

    default = "selection,random:balanced" if args.train_ids else "interval,random"
    strategies = [s.strip() for s in (args.strategies or default).split(",") if s.strip()]
    if (args.plo is None) != (args.phi is None):
        raise EudsInputError("--plo and --phi go together, e.g. --plo 0.2 --phi 0.6")
    if args.plo is None:
        return strategies
    explicit = interval_strategy(args.plo, args.phi)
    strategies = [explicit if s == "interval" else s for s in strategies]
    return strategies if explicit in strategies else [explicit, *strategies]


def default_sizes(text: str | None, strategies: list[str]) -> list[float]:
    """``--sizes``; without it the default sizes, or none when every subset strategy is an explicit interval or
    the selection (random then runs at their sizes only)."""
    from euds_core.experiments.finetune import DEFAULT_SIZES
    from euds_core.experiments.subsets import parse_interval_strategy

    if text is not None:
        return parse_floats(text, "--sizes")
    others = [s for s in strategies if s not in SCORE_FREE_STRATEGIES and parse_interval_strategy(s) is None]
    explicit = [s for s in strategies if parse_interval_strategy(s) is not None or s == "selection"]
    return [] if explicit and not others else list(DEFAULT_SIZES)


def print_curve_and_verdicts(runs: pd.DataFrame, balanced: set[str] | None = None) -> None:
    """Mean accuracy with its 95 % CI per (strategy, size), then one verdict line per size against random."""
    from euds_core.experiments.statistics import curve_summary, interval_text, paired_verdicts, verdict_lines

    for r in curve_summary(runs).itertuples():
        print(
            f"{r.strategy:>24} @ {r.size_fraction:<5g} n_train {r.n_train:>7.0f}  accuracy {r.accuracy:.3f} "
            f"({interval_text(r.ci_low, r.ci_high)}, {r.seeds} seed{'s' if r.seeds != 1 else ''}, {r.interval})"
        )
    lines = verdict_lines(paired_verdicts(runs, balanced=balanced))
    if not lines:
        print("no verdict: add random to --strategies to compare at the same size and seeds")
    for line in lines:
        print(line)


def cmd_benchmark(args) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from euds_core.cli.curation_commands import cmd_benchmark_inject, curation_after_benchmark
    from euds_core.experiments.benchmark import run_benchmark
    from euds_core.experiments.leaderboard import write_leaderboard

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise EudsInputError(f"--out {args.out} is a file; give a folder")
    config = benchmark_config(args)
    if args.inject:
        return cmd_benchmark_inject(args, config, out_dir)
    datasets = benchmark_datasets(args)
    all_cells, keys = [], []
    for dataset in datasets:
        bar = tqdm(desc=f"{dataset.name} cells", unit="cell", file=sys.stderr, dynamic_ncols=True)

        def progress(done: int, total: int, message: str, _bar=bar) -> None:
            if total:  # total 0: a message before the cells (scoring, the search)
                _bar.total = total
                _bar.update(max(done - _bar.n, 0))
            _bar.set_postfix_str(message[:80], refresh=True)

        try:
            cells = run_benchmark(dataset, config, out_dir, progress=progress)
            curation_after_benchmark(args, dataset, config, out_dir, progress)
        finally:
            bar.close()
        all_cells.append(cells)
        keys.append(cells.attrs["run_key"])
    board = write_leaderboard(pd.concat(all_cells, ignore_index=True), out_dir, mode=config.mode, run_keys=keys)
    for r in board.itertuples():
        if r.method in ("auto", "full", "random"):
            print(
                f"{r.dataset} @ {r.size_fraction:g}: {r.method} accuracy {r.accuracy:.3f} "
                f"(95 % CI {r.ci_low:.3f}–{r.ci_high:.3f}){'' if r.method != 'auto' else ': ' + r.verdict}"
            )
    if config.fidelity:
        left_out = sorted({m for cells in all_cells for m in cells.attrs.get("fidelity_left_out", [])})
        print_fidelity(pd.concat(all_cells, ignore_index=True), left_out)
    print(f"wrote {out_dir / 'leaderboard.md'} and {out_dir / 'leaderboard.csv'} ({len(board)} rows)")
    return 0


def print_fidelity(cells: pd.DataFrame, left_out: list[str]) -> None:
    """``benchmark --fidelity``: per dataset and size, the proxy's rank agreement with the fine-tune and both
    rankings, and the proxy-derived methods the sample left out."""
    from euds_core.experiments.proxy_fidelity import fidelity_lines

    if left_out:
        print(
            f"Left out of the sample, never ranked by the proxy: {', '.join(left_out)} (chosen by scores from the "
            "proxy's own kind of model, which the proxy finds easy by construction)."
        )

    for (dataset, size), _ in cells[cells["method"] != "full"].groupby(["dataset", "size_fraction"]):
        print(f"\n{dataset} @ {float(size):g}: the linear proxy against the fine-tune on the same rows")
        print("\n".join(fidelity_lines(cells, dataset, float(size), table_rows=True)))


def benchmark_config(args):
    """The benchmark's settings from its options (checked)."""
    from euds_core.experiments.benchmark import BenchmarkConfig

    if args.fidelity and args.proxy:
        raise EudsInputError("--fidelity compares the proxy with real fine-tunes: give it without --proxy")
    if not (args.proxy or args.finetune or args.fidelity):
        raise EudsInputError("give --proxy (a linear proxy, minutes) or --finetune (real fine-tunes)")
    options = {k: v for k, v in {"encoder": args.encoder, "tokenizer": args.tokenizer, "lm": args.lm}.items() if v}
    config = BenchmarkConfig(
        mode="proxy" if args.proxy else "finetune",
        sizes=parse_floats(args.sizes, "--sizes"),
        seeds=parse_seeds(args.seeds),
        options=options,
        label_balanced=args.label_balanced,
        samplers=not args.no_samplers,
        search_step=args.step,
        random_draws=args.random_draws,
        search_folds=args.folds,
        permutations=args.permutations,
        drop_test_duplicates=args.drop_test_duplicates,
        test_fraction=args.test_fraction,
        finetune=finetune_config_from_args(args),
        fidelity=args.fidelity,
        curate_sizes=parse_floats(args.curate_sizes, "--curate-sizes") if args.curate_sizes else [],
    )
    if args.scores:
        config.scores = [s.strip() for s in args.scores.split(",") if s.strip()]
    if args.methods:
        config.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    config.check()
    return config


def read_search_file(args, columns: dict[str, str], what: str) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The scores file of a search: (frame, the normalised table, labels as strings), checked for ``columns``.

    The table is the scored dataset's own normalised table, so its cached embeddings (semantic score) are reused.
    """
    from euds_core.data.table import TABLE_COLUMNS

    frame = read_scores_file(args.scores_file)
    for column, option in columns.items():
        if column not in frame.columns:
            raise EudsInputError(
                f"no column '{column}' ({option}) in {args.scores_file}; it has: {', '.join(map(str, frame.columns))}"
            )
    if frame[args.label_col].isna().any():
        raise EudsInputError(f"the label column '{args.label_col}' has missing values; fill or drop those rows")
    labels = frame[args.label_col].astype(str).to_numpy()
    if len(np.unique(labels)) < 2:
        raise EudsInputError(f"the {what} needs at least two label classes")
    table = frame[[c for c in TABLE_COLUMNS if c in frame.columns]].astype(str)
    return frame, table, labels


def search_values(
    frame: pd.DataFrame, name: str, table: pd.DataFrame, labels: np.ndarray, split, options: dict | None = None
) -> np.ndarray:
    """One score column as the search reads it (pool-fitted scores refitted with ``options``' encoder)."""
    from euds_core.data.table import dataset_hash
    from euds_core.experiments.interval_search import search_score_values

    raw = numeric_column(frame, name)
    labelled = table.assign(label=labels)  # the cache is the scored table's (its id has no label column)
    return search_score_values(labelled, name, raw, split, dataset_id=dataset_hash(table), options=options)


def refit_options(args) -> dict | None:
    """The options a pool refit of the scores file's scores uses: the ones recorded beside the file by `score`
    (its encoder), else ``--encoder`` when the command has one, else the defaults."""
    from euds_core.data.table_io import scores_file_options

    path = getattr(args, "scores_file", None)
    recorded = scores_file_options(path) if path else None
    if recorded is not None:
        return recorded
    return {"encoder": args.encoder} if getattr(args, "encoder", None) else None


def embed_with_progress_bar(table: pd.DataFrame, encoder: str | None) -> np.ndarray:
    from tqdm import tqdm

    from euds_core.data.table import dataset_hash
    from euds_core.models.embeddings import compute_embeddings
    from euds_core.models.loading import DEFAULT_ENCODER
    from euds_core.storage.cache import DatasetCache

    with tqdm(total=len(table), desc="embedding", unit="rows", file=sys.stderr, dynamic_ncols=True) as bar:
        return compute_embeddings(
            table,
            encoder=encoder or DEFAULT_ENCODER,
            cache=DatasetCache(dataset_hash(table)),
            progress=lambda d, t, m: bar.update(d - bar.n),
        )


def score_columns(frame: pd.DataFrame, option: str | None, scores_file: str) -> list[str]:
    """``--scores`` (checked against the file), or every column of the file that names a registered score."""
    from euds_core.scores import get_scorer_class

    if option:
        names = [n.strip() for n in option.split(",") if n.strip()]
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise EudsInputError(f"no score column '{missing[0]}' in {scores_file}")
        return names
    names = []
    for column in frame.columns:
        try:
            get_scorer_class(str(column))
            names.append(str(column))
        except EudsInputError:
            continue
    if not names:
        raise EudsInputError(f"{scores_file} has no score columns; score it first (`score --scores ...`)")
    return names


def benchmark_datasets(args) -> list:
    """The benchmark's datasets, with the ``--test-file`` rows appended (one dataset only)."""
    from euds_core.data.datasets import load_dataset

    if args.test_file and len(args.datasets) > 1:
        raise EudsInputError("--test-file goes with one dataset; run the benchmark once per dataset")
    columns = {"text_col": args.text_col, "label_col": args.label_col, "id_col": args.id_col}
    return [with_test_file(load_dataset(d, **columns, limit=args.limit), args) for d in args.datasets]


def search_split_from_args(args, labels: np.ndarray, table: pd.DataFrame, val_fraction: float = DEFAULT_VAL_FRACTION):
    """A search's split from its command's options: with ``--test-file`` every row of the scores file is pool
    (the test file is read only to check its labels)."""
    from euds_core.experiments.interval_search import search_split

    check_test_file(args, labels)
    return search_split(
        labels,
        test_fraction=args.test_fraction,
        val_fraction=val_fraction,
        seed=args.seed,
        table=table,
        all_pool=bool(args.test_file),
    )


def cmd_search_selection(args) -> int:
    from euds_core.data.table import dataset_hash
    from euds_core.experiments.leaderboard import search_sentence
    from euds_core.experiments.pool_scores import fold_fitted_scores
    from euds_core.experiments.selection_search import SearchSettings, search_selection

    out = check_output_path(args.out, (".csv",))
    frame, table, labels = read_search_file(args, {args.label_col: "--label-col", "text": "text"}, "selection search")
    names = score_columns(frame, args.scores, args.scores_file)
    split = search_split_from_args(args, labels, table)
    raw = pd.DataFrame({name: numeric_column(frame, name) for name in names})
    # scores that look beyond their row are refitted on each fold's training rows, with the file's own encoder
    labelled = table.assign(label=labels)  # the cache is the scored table's (its id has no label column)
    scores = fold_fitted_scores(labelled, raw, dataset_id=dataset_hash(table), options=refit_options(args))
    embeddings = embed_with_progress_bar(table, args.encoder)
    settings = SearchSettings(
        step=args.step, random_draws=args.random_draws, folds=args.folds, permutations=args.permutations, seed=args.seed
    )
    found = []
    for size in parse_floats(args.sizes, "--sizes"):
        result = search_selection(embeddings, labels, scores, split, size, settings)
        found.append(result.candidates.assign(size=size))
        print(f"size {size:g}: {search_sentence(result.summary())}")
    write_table(pd.concat(found, ignore_index=True), out)
    print(f"wrote {sum(len(f) for f in found)} candidates to {out}")
    return 0


def numeric_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A score column as float64, refused when any value is missing or not a number."""
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise EudsInputError(f"the column '{name}' has missing or non-numeric values; rescore the file")
    return values


def cmd_search_interval(args) -> int:
    from tqdm import tqdm

    from euds_core.experiments.interval_search import IntervalSearchSettings, search_interval

    out = check_output_path(args.out, (".csv",))
    if args.random_draws < 1:
        raise EudsInputError("--random-draws must be at least 1")
    settings = IntervalSearchSettings(
        min_keep=args.min_keep,
        step=args.step,
        seed=args.seed,
        random_draws=args.random_draws,
        label_balanced=args.label_balanced,
    )
    columns = {args.score: "--score", args.label_col: "--label-col", "text": "text"}
    frame, table, labels = read_search_file(args, columns, "interval search")
    split = search_split_from_args(args, labels, table, val_fraction=args.val_fraction)
    scores = search_values(frame, args.score, table, labels, split, refit_options(args))
    embeddings = embed_with_progress_bar(table, args.encoder)
    with tqdm(desc="cells", unit="cell", file=sys.stderr, dynamic_ncols=True) as bar:

        def progress(done: int, total: int, message: str) -> None:
            bar.total = total
            bar.update(done - bar.n)
            bar.set_postfix_str(message, refresh=False)

        grid = search_interval(embeddings, labels, scores, split, settings, progress=progress)
    write_table(grid, out)
    print_best_interval(grid, args)
    print(f"wrote {len(grid)} cells to {out}")
    return 0


def print_best_interval(grid: pd.DataFrame, args) -> None:
    """The grid's best cell against random and the full pool, and the command that confirms it on the test split."""
    from euds_core.experiments.interval_search import best_cell

    best = best_cell(grid)
    print(
        f"best interval: plo={best.p_lo:.2f} phi={best.p_hi:.2f} (keeps {best.keep_fraction:.0%}) validation accuracy "
        f"{best.accuracy:.3f}, {best.gain * 100:+.1f} pt over random at the same size; "
        f"full pool accuracy {grid[(grid.p_lo == 0) & (grid.p_hi == 1)].accuracy.iloc[0]:.3f}"
    )
    print(
        f"confirm it on the untouched test split: finetune ... --score {args.score} --plo {best.p_lo:g} "
        f"--phi {best.p_hi:g} --strategies interval,random,full --seeds 5 "
        f"--test-fraction {args.test_fraction:g} --split-seed {args.seed}"
        + ("" if args.label_balanced else " --no-label-balanced")
        + (f" --test-file {args.test_file}" if args.test_file else "")
    )


COMMANDS = {
    "finetune": cmd_finetune,
    "search-interval": cmd_search_interval,
    "benchmark": cmd_benchmark,
    "search-selection": cmd_search_selection,
}

"""The ``inject`` command (defects on demand) and the ``--test-file`` option of the experiment commands."""

from __future__ import annotations

import argparse

from euds_core.cli.arguments import add_dataset_args, column_args, load_dataset_from_args
from euds_core.data.table_io import check_output_path, write_table
from euds_core.errors import EudsInputError


def add_parsers(sub) -> None:
    p = sub.add_parser("inject", help="add flagged defects (near-copies, boilerplate, label flips, ...) to a dataset")
    add_dataset_args(p)
    p.add_argument("--rate", type=float, help="total share of defects in the output (split over the kinds), e.g. 0.3")
    p.add_argument(
        "--rates",
        help="per kind, of the rows before injection: near_duplicate=0.1,boilerplate=0.05,label_flip=0.1,"
        "garbled=0.05,off_topic=0.05",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument(
        "--test-out",
        help="also hold out a clean stratified test split (--test-fraction) and write it here; it gets no defects",
    )
    p.add_argument("--test-fraction", type=float, default=0.2, help="with --test-out: the held-out share")
    p.add_argument("--out", required=True, help="the noisy dataset: .csv, .jsonl or .parquet with a defect column")


def add_test_file_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--test-file",
        help="your own test set (.csv/.jsonl/.parquet with the same columns): the test split is exactly its rows",
    )


def rates_from_args(args) -> dict[str, float]:
    from euds_core.data.defects import parse_rates, rates_for_total

    if (args.rate is None) == (args.rates is None):
        raise EudsInputError("give one of --rate R (a total share, e.g. 0.3) or --rates KIND=R,...")
    return rates_for_total(args.rate) if args.rate is not None else parse_rates(args.rates)


def cmd_inject(args) -> int:
    from euds_core.experiments.defect_pools import defect_counts, inject_dataset

    out = check_output_path(args.out)
    test_out = check_output_path(args.test_out, option="--test-out") if args.test_out else None
    rates = rates_from_args(args)
    dataset = load_dataset_from_args(args)
    hold_out = args.test_fraction if test_out else None
    if hold_out is not None and not 0.0 < hold_out < 0.9:
        raise EudsInputError("--test-fraction must be between 0 and 0.9")
    noisy = inject_dataset(dataset, rates, seed=args.seed, hold_out=hold_out)
    write_table(noisy.pool.table, out)
    counts = defect_counts(noisy.pool.table)
    print(f"wrote {len(noisy.pool.table)} rows to {out}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if test_out is not None and noisy.test is not None:
        write_table(noisy.test.table, test_out)
        print(f"wrote {len(noisy.test.table)} clean test rows to {test_out}")
    return 0


def with_test_file(dataset, args):
    """``dataset`` with the ``--test-file`` rows appended as its test split (unchanged without the option);
    prints how many pool rows duplicate a test row."""
    from euds_core.data.datasets import load_dataset
    from euds_core.data.test_file import attach_test_file, duplicates_message

    if not getattr(args, "test_file", None):
        return dataset
    columns = (
        column_args(args)
        if hasattr(args, "question_col")
        else {"text_col": args.text_col, "label_col": args.label_col, "id_col": args.id_col}
    )
    test = load_dataset(args.test_file, **columns)
    attachment = attach_test_file(dataset, test)
    print(duplicates_message(attachment))
    return attachment.dataset


def check_test_file(args, pool_labels) -> None:
    """The searches never read the test rows: ``--test-file`` there only says that every row of the scores file
    is pool; the file is still read, so a wrong path fails now."""
    import numpy as np

    from euds_core.data.readers import read_table_file

    if not getattr(args, "test_file", None):
        return
    frame = read_table_file(args.test_file)
    if args.label_col in frame.columns:
        unknown = set(frame[args.label_col].astype(str)) - set(np.asarray(pool_labels).astype(str))
        if unknown:
            raise EudsInputError(f"the test file has labels the pool lacks: {', '.join(sorted(unknown)[:5])}")


def add_curation_args(p: argparse.ArgumentParser) -> None:
    """The benchmark's curation options."""
    p.add_argument(
        "--curate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also search an auto-curate recipe and compare it with random at its size, the full pool and the clean "
        "rows (default: on when the dataset has a defect column)",
    )
    p.add_argument(
        "--curate-sizes",
        help="also compare curate, random and clean at these fractions of the pool, every arm the same number of "
        "rows (a seeded sample of each), e.g. 0.25",
    )
    p.add_argument(
        "--inject",
        help="sweep injected defect rates, e.g. 0,0.15,0.3: a benchmark and a curation study per rate, and the "
        "gain over random against the rate (DIR/sweep.md, .html, .png)",
    )


def curation_after_benchmark(args, dataset, config, out_dir, progress) -> None:
    """The curation study after a dataset's benchmark, when asked for or when the data carries defect flags."""
    from euds_core.data.defects import has_defects
    from euds_core.experiments.curation_study import run_curation_study

    if args.curate is False or (args.curate is None and not has_defects(dataset.table)):
        return
    summary = run_curation_study(dataset, config, out_dir, progress=progress)
    print(f"{dataset.name}: auto-curate: {summary['verdict']}")
    for method, accuracy in sorted(summary["accuracy"].items()):
        print(f"{dataset.name}: {method} accuracy {accuracy:.3f}")
    for line in summary.get("verdicts", []):
        print(f"{dataset.name}: {line}")
    if "defects_removed" in summary:
        print(
            f"{dataset.name}: the recipe removes {summary['defects_removed']:.0%} of the defects and keeps "
            f"{summary['clean_kept']:.0%} of the clean rows"
        )
    print(f"wrote {out_dir / 'curation.md'}")


def cmd_benchmark_inject(args, config, out_dir) -> int:
    """``benchmark DATASET --inject R1,R2,...``: the defect-rate sweep (experiments/inject_sweep.py)."""
    from euds_core.data.datasets import load_dataset
    from euds_core.experiments.inject_sweep import parse_rates_list, run_inject_sweep

    rates = parse_rates_list(args.inject)
    if len(args.datasets) != 1 or args.test_file:
        raise EudsInputError("--inject takes one dataset and holds its own test split out (no --test-file)")
    columns = {"text_col": args.text_col, "label_col": args.label_col, "id_col": args.id_col}
    dataset = load_dataset(args.datasets[0], **columns, limit=args.limit)
    sweep = run_inject_sweep(dataset, config, out_dir, rates)
    for r in sweep.itertuples():
        gain = "" if r.gain_pt != r.gain_pt else f", gain over random {r.gain_pt:+.1f} pt"
        print(f"rate {r.rate:g}: {r.method} @ {r.size_fraction:g}: accuracy {r.accuracy:.3f}{gain}")
    print(f"wrote {out_dir / 'sweep.md'}, sweep.html, sweep.png and one folder per rate")
    return 0


def add_recipe_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--recipe",
        help="a curation recipe instead of one interval, e.g. 'one per near-duplicate group; drop information below "
        "p8; drop el2n above p88' (as auto-curate prints it)",
    )


def _recipe_only(args) -> None:
    clashing = [o for o in ("score", "keep", "lo", "hi", "plo", "phi") if getattr(args, o, None) is not None]
    clashing += [o for o in ("sampler", "selection", "manifest") if getattr(args, o, None)]
    if clashing:
        raise EudsInputError(f"--recipe replaces the interval options; drop --{clashing[0].replace('_', '-')}")


def select_with_recipe(args) -> int:
    """``select FILE --recipe TEXT``: the recipe's rows of a scores file (near-duplicate groups from the texts'
    cached embeddings under ``--encoder``)."""
    import sys

    from euds_core.curation.recipe_columns import with_recipe_columns
    from euds_core.data.table import TABLE_COLUMNS, dataset_hash
    from euds_core.data.table_io import read_scores_file
    from euds_core.models.loading import DEFAULT_ENCODER
    from euds_core.selection.recipe import DUPLICATE_COPY, parse_recipe
    from euds_core.storage.cache import DatasetCache

    _recipe_only(args)
    if not args.scores_file:
        raise EudsInputError("select --recipe needs a scores file (written by `score`)")
    out = check_output_path(args.out)
    recipe = parse_recipe(args.recipe)
    frame = read_scores_file(args.scores_file)
    if recipe.dedup and DUPLICATE_COPY not in frame.columns and "text" not in frame.columns:
        raise EudsInputError("one per near-duplicate group needs the text column of the scores file")
    table = frame[[c for c in TABLE_COLUMNS if c in frame.columns]].astype(str)
    cache = DatasetCache(dataset_hash(table)) if recipe.dedup else None
    scores = with_recipe_columns(table, frame, recipe, encoder=args.encoder or DEFAULT_ENCODER, cache=cache)
    mask = recipe.mask(scores)
    write_table(frame[mask].reset_index(drop=True), out)
    print(f"recipe: {recipe.text}", file=sys.stderr)
    print(f"kept {int(mask.sum())} of {len(frame)}")
    return 0


def export_with_recipe(args, dataset, options: dict, fmt: str) -> int:
    """``export DATASET --recipe TEXT``: the recipe's rows (plus review overrides) with a manifest recording the
    recipe and its intervals."""
    import sys

    import pandas as pd

    from euds_core.curation.decision_log import effective_overrides
    from euds_core.curation.export import export_subset
    from euds_core.curation.recipe_columns import duplicate_copy_params, with_recipe_columns
    from euds_core.models.loading import DEFAULT_ENCODER
    from euds_core.scores import make_scorer
    from euds_core.scoring.engine import score_dataset
    from euds_core.selection.intervals import SelectionSpec
    from euds_core.selection.recipe import DUPLICATE_COPY, parse_recipe
    from euds_core.storage.cache import DatasetCache

    _recipe_only(args)
    recipe = parse_recipe(args.recipe)
    names = list(dict.fromkeys(recipe.scores))
    scores = score_dataset(dataset, names, options=options) if names else pd.DataFrame(index=dataset.table.index)
    encoder = options.get("encoder") or DEFAULT_ENCODER
    scores = with_recipe_columns(dataset.table, scores, recipe, encoder=encoder, cache=DatasetCache(dataset.id))
    spec = SelectionSpec(dataset.id, recipe.intervals(), seed=args.seed, recipe=recipe.text)
    spec.score_params = {n: make_scorer(n, options).params() for n in names}
    if recipe.dedup:
        spec.score_params[DUPLICATE_COPY] = duplicate_copy_params(encoder)
    spec.overrides = {} if args.no_review else effective_overrides(dataset.id)
    result = export_subset(dataset, scores, spec, args.out, fmt=fmt, manifest_path=args.manifest)
    print(f"recipe: {recipe.text}", file=sys.stderr)
    print(f"kept {result.kept} of {result.total}")
    print(f"wrote {result.path} and {result.manifest_path} ({len(spec.overrides)} review overrides)", file=sys.stderr)
    return 0


COMMANDS = {"inject": cmd_inject}

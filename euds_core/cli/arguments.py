"""Argument pieces shared by the command modules: the parser class, dataset and interval options."""

from __future__ import annotations

import argparse

from euds_core.errors import EudsInputError
from euds_core.selection.intervals import Interval


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's default prints usage + exits 2; keep exit 2, one line
        raise EudsInputError(f"{message} (see: {self.prog} --help)")


def add_dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "dataset", help="a built-in name (see `datasets`), a .csv/.jsonl/.parquet file or a save_to_disk folder"
    )
    p.add_argument("--text-col", help="column holding the text to score")
    p.add_argument("--label-col", help="column holding the class label (default: guessed as the app's Load page does)")
    p.add_argument("--no-label", action="store_true", help="the file has no label column: do not guess one")
    p.add_argument("--question-col", help="Q&A: column holding the question")
    p.add_argument("--answer-col", help="Q&A: column holding the answer")
    p.add_argument("--id-col", help="column holding a unique sample id (default: row number)")
    p.add_argument("--limit", type=int, help="score a seeded random sample of N rows")


def add_interval_args(p: argparse.ArgumentParser) -> None:
    """The interval options shared by `select` and `export` (one of: --keep, --lo/--hi, --plo/--phi)."""
    p.add_argument("--keep", type=float, help="keep this fraction of rows (exact count)")
    p.add_argument("--band", default="middle", help="with --keep: low | middle | high | an offset in [0, 1]")
    p.add_argument("--lo", type=float, help="keep rows with score >= LO")
    p.add_argument("--hi", type=float, help="keep rows with score <= HI")
    p.add_argument("--plo", type=float, help="keep rows whose percentile rank is >= PLO (0..1)")
    p.add_argument("--phi", type=float, help="keep rows whose percentile rank is <= PHI (0..1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the tie-breaking order")
    p.add_argument(
        "--label-balanced",
        action="store_true",
        help="apply the --keep or --plo/--phi interval within each label group (keeps the label proportions)",
    )


def interval_from_args(args) -> Interval | None:
    """The one interval the options describe on ``args.score``; None when no interval option was given."""
    keep, threshold = args.keep is not None, args.lo is not None or args.hi is not None
    percentile = args.plo is not None or args.phi is not None
    if keep + threshold + percentile > 1:
        raise EudsInputError("give only one of: --keep F [--band ...], --lo/--hi, or --plo/--phi")
    balanced = bool(getattr(args, "label_balanced", False))
    if balanced and threshold:
        raise EudsInputError("--label-balanced works with --keep or --plo/--phi, not --lo/--hi")
    if keep:
        return Interval(args.score, "keep", keep=args.keep, band=args.band, label_balanced=balanced)
    if threshold:
        return Interval(args.score, "threshold", lo=args.lo, hi=args.hi)
    if percentile:
        return Interval(args.score, "percentile", lo=args.plo, hi=args.phi, label_balanced=balanced)
    if balanced:
        raise EudsInputError("--label-balanced needs an interval: --keep F or --plo/--phi")
    return None


def column_args(args) -> dict:
    """The column choices (--text-col, --label-col, ...) as keyword arguments for the dataset readers."""
    return {f"{role}_col": getattr(args, f"{role}_col") for role in ("text", "label", "question", "answer", "id")}


def load_dataset_from_args(args):
    """The dataset the options name; a file's columns are resolved as the app resolves them (label guessed
    unless --label-col or --no-label), so the CLI and the app give one file one dataset id."""
    import sys
    from pathlib import Path

    from euds_core.data.datasets import load_dataset

    guess = not getattr(args, "no_label", False)
    dataset = load_dataset(args.dataset, **column_args(args), limit=args.limit, guess_label=guess)
    guessed = guess and args.label_col is None and args.question_col is None and dataset.has_labels
    if guessed and Path(args.dataset).expanduser().exists():
        print(
            "label column guessed as the app does (--label-col C to choose another, --no-label for none)",
            file=sys.stderr,
        )
    return dataset

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


COMMANDS = {"inject": cmd_inject}

"""Command line: ``python -m euds_core <command>`` (the contract of DESIGN.md §7).

Bad input ends with exit code 2 and one ``error: ...`` line on stderr; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError, ScoringCancelled
from euds_core.select import Interval

EXIT_INPUT_ERROR = 2


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's default prints usage + exits 2; keep exit 2, one line
        raise EudsInputError(f"{message} (see: {self.prog} --help)")


def _add_dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "dataset", help="a built-in name (see `datasets`), a .csv/.jsonl/.parquet file or a save_to_disk folder"
    )
    p.add_argument("--text-col", help="column holding the text to score")
    p.add_argument("--label-col", help="column holding the class label")
    p.add_argument("--question-col", help="Q&A: column holding the question")
    p.add_argument("--answer-col", help="Q&A: column holding the answer")
    p.add_argument("--id-col", help="column holding a unique sample id (default: row number)")
    p.add_argument("--limit", type=int, help="score a seeded random sample of N rows")


def _add_interval_args(p: argparse.ArgumentParser) -> None:
    """The interval options shared by `select` and `export` (one of: --keep, --lo/--hi, --plo/--phi)."""
    p.add_argument("--keep", type=float, help="keep this fraction of rows (exact count)")
    p.add_argument("--band", default="middle", help="with --keep: low | middle | high | an offset in [0, 1]")
    p.add_argument("--lo", type=float, help="keep rows with score >= LO")
    p.add_argument("--hi", type=float, help="keep rows with score <= HI")
    p.add_argument("--plo", type=float, help="keep rows whose percentile rank is >= PLO (0..1)")
    p.add_argument("--phi", type=float, help="keep rows whose percentile rank is <= PHI (0..1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the tie-breaking order")


def interval_from_args(args) -> Interval | None:
    """The one interval the options describe on ``args.score``; None when no interval option was given."""
    keep, threshold = args.keep is not None, args.lo is not None or args.hi is not None
    percentile = args.plo is not None or args.phi is not None
    if keep + threshold + percentile > 1:
        raise EudsInputError("give only one of: --keep F [--band ...], --lo/--hi, or --plo/--phi")
    if keep:
        return Interval(args.score, "keep", keep=args.keep, band=args.band)
    if threshold:
        return Interval(args.score, "threshold", lo=args.lo, hi=args.hi)
    if percentile:
        return Interval(args.score, "percentile", lo=args.plo, hi=args.phi)
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="python -m euds_core", description="EUDS Studio: score, explore and select text data."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)

    sub.add_parser("datasets", help="list the built-in datasets")

    p = sub.add_parser("score", help="score every sample and write a Parquet file")
    _add_dataset_args(p)
    p.add_argument("--scores", default="information,generative,semantic", help="comma-separated score names")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--batch-size", type=int, help="rows per model batch (default 16 on CPU, 64 on CUDA)")
    p.add_argument("--engine", default="local", choices=["local", "ray"])
    p.add_argument(
        "--ray-address", help="with --engine ray: a running cluster (ray://head:10001 or auto); default: local Ray"
    )
    p.add_argument(
        "--ray-storage",
        help="with --engine ray: folder for the actors' result shards, seen by every node (default: the workspace)",
    )
    p.add_argument("--lm", help="causal LM folder or .gguf file (default: the packaged SmolLM2-135M)")
    p.add_argument("--encoder", help="sentence encoder folder (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--tokenizer", help="tokenizer folder for information entropy (default: the encoder's)")
    p.add_argument("--out", required=True, help="output .parquet (or .csv / .jsonl)")
    p.add_argument(
        "--stream",
        action="store_true",
        help="read and score the file in batches with bounded memory (a pool larger than memory); .parquet --out",
    )
    p.add_argument("--stream-batch-rows", type=int, help="with --stream: input rows per batch (default 50,000)")

    p = sub.add_parser("select", help="keep the rows inside an interval of one score")
    p.add_argument("scores_file", nargs="?", help="a file written by `score` (optional with --manifest)")
    p.add_argument("--score", help="score column to select on, e.g. igse")
    _add_interval_args(p)
    p.add_argument("--apply-review", metavar="DATASET", help="apply the review overrides of DATASET (name, path or id)")
    p.add_argument("--manifest", help="rebuild the subset an export's manifest.json describes (no other options)")
    p.add_argument(
        "--sampler",
        help="choose a set instead of an interval: hard_easy | mig | kcenter | cluster_balanced (with --keep)",
    )
    p.add_argument(
        "--encoder", help="with --sampler: sentence encoder folder or 'hashing' (default: the packaged MiniLM)"
    )
    p.add_argument("--out", required=True, help="output .jsonl, .csv or .parquet")

    p = sub.add_parser("review", help="record or list manual keep/drop decisions for a dataset")
    _add_dataset_args(p)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="ID=keep|drop",
        help="a decision (repeatable); clear undoes an override",
    )
    p.add_argument(
        "--from-csv", metavar="FILE", help="decisions from a CSV with the columns id,decision[,note] (one action)"
    )
    p.add_argument("--note", default="", help="note stored with the --set decisions")
    p.add_argument("--reviewer", default="", help="reviewer name stored with the decisions")
    p.add_argument(
        "--list", action="store_true", help="print the effective decisions as CSV: id,decision,note,reviewer,timestamp"
    )
    p.add_argument("--undo", action="store_true", help="revert the last action (of --reviewer when given) by appending")

    p = sub.add_parser("export", help="write the effective subset (interval + review) and a manifest.json")
    _add_dataset_args(p)
    p.add_argument("--score", help="score to select on, e.g. igse (none: every row, review overrides only)")
    _add_interval_args(p)
    p.add_argument("--selection", help="use a selection saved under this name instead of the interval options")
    p.add_argument("--no-review", action="store_true", help="ignore the review overrides")
    p.add_argument("--lm", help="causal LM folder or .gguf file (as given to `score`)")
    p.add_argument("--encoder", help="sentence encoder folder (as given to `score`)")
    p.add_argument("--tokenizer", help="tokenizer folder (as given to `score`)")
    p.add_argument(
        "--format",
        choices=["csv", "jsonl", "parquet", "hf"],
        help="default: from the --out suffix (no suffix: hf folder)",
    )
    p.add_argument("--manifest", help="where to write the manifest (default: manifest.json beside --out)")
    p.add_argument("--out", required=True, help="output .csv, .jsonl, .parquet, or a folder for --format hf")

    from euds_core.finetune_cli import add_parsers as add_finetune_parsers

    add_finetune_parsers(sub, _add_dataset_args)  # finetune, search-interval

    p = sub.add_parser("job-run", help=argparse.SUPPRESS)  # internal: the child process of a background job
    p.add_argument("job_id")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except EudsInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except ScoringCancelled as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("cancelled: interrupted; finished chunks are cached and a rerun resumes", file=sys.stderr)
        return 130


# ---------------------------------------------------------------------------------------------- commands


def cmd_datasets(args) -> int:
    from euds_core.datasets import describe_builtins

    for row in describe_builtins():
        if row["missing"]:
            print(f"{row['name']:<16} {row['task']:<15} missing: {row['missing']}")
        else:
            print(
                f"{row['name']:<16} {row['task']:<15} {row['rows']:>6} rows  {row['description']}"
                + (f"  labels: {row['labels']}" if row["labels"] else "")
            )
    return 0


def column_args(args) -> dict:
    """The column choices (--text-col, --label-col, ...) as keyword arguments for the dataset readers."""
    return {f"{role}_col": getattr(args, f"{role}_col") for role in ("text", "label", "question", "answer", "id")}


def load_dataset_from_args(args):
    from euds_core.datasets import load_dataset

    return load_dataset(args.dataset, **column_args(args), limit=args.limit)


def _check_output_path(path: str) -> Path:
    out = Path(path)
    if out.suffix.lower() not in (".parquet", ".csv", ".jsonl"):
        raise EudsInputError(f"--out must end in .parquet, .csv or .jsonl, not '{out.name}'")
    if not out.parent.exists():
        raise EudsInputError(f"the folder of --out does not exist: {out.parent}")
    return out


def write_table(frame: pd.DataFrame, out: Path) -> None:
    """Write atomically (temp file + rename) in the format the suffix names."""
    tmp = out.with_name(f".{out.name}.tmp")
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(tmp, index=False)
    elif suffix == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
    tmp.replace(out)


def read_scores_file(path: str) -> pd.DataFrame:
    from euds_core.datasets import read_table_file

    return read_table_file(path)


def cmd_score(args) -> int:
    from tqdm import tqdm

    from euds_core.datasets import save_dataset
    from euds_core.scoring import score_dataset, scores_with_table

    out = _check_output_path(args.out)
    if args.stream:
        from euds_core.datasets import BUILTIN_DATASETS

        if args.dataset in BUILTIN_DATASETS:
            raise EudsInputError(
                f"--stream reads a file or save_to_disk folder; '{args.dataset}' is a built-in dataset, "
                "score it without --stream"
            )
        if args.engine == "ray":
            raise EudsInputError("--stream runs on the local engine; drop --engine ray (or drop --stream)")
        if args.limit is not None:
            raise EudsInputError("--stream scores every row; drop --limit (or drop --stream to score a sample)")
    elif args.stream_batch_rows is not None:
        raise EudsInputError("--stream-batch-rows only applies with --stream")
    if args.engine == "ray":
        from euds_core.ray_engine import require_ray

        require_ray()  # a clear error before any work when Ray is not installed
    if args.batch_size is not None and args.batch_size <= 0:
        raise EudsInputError("--batch-size must be a positive number")
    bars: dict[str, tqdm] = {}

    def progress(name: str, done: int, total: int | None, message: str) -> None:
        # total is None while a streamed file's length is unknown (CSV, JSONL): a counting bar, closed at the end.
        bar = bars.get(name)
        if bar is None:
            bar = bars[name] = tqdm(total=total, desc=f"{name:<12}", unit="rows", file=sys.stderr, dynamic_ncols=True)
        if total is not None and bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()

    options = {"lm": args.lm, "encoder": args.encoder, "tokenizer": args.tokenizer or args.encoder}
    if args.stream:
        from euds_core.streaming import DEFAULT_BATCH_ROWS, score_file_streaming

        # No save_dataset: it would hold the whole table in memory. The shards and OUT are the only copies.
        result = score_file_streaming(
            args.dataset,
            args.scores.split(","),
            out=out,
            **column_args(args),
            device=args.device,
            batch_size=args.batch_size,
            options=options,
            batch_rows=args.stream_batch_rows if args.stream_batch_rows is not None else DEFAULT_BATCH_ROWS,
            progress=progress,
        )
        for reason, count in result.skipped.items():
            print(f"skipped {count} rows: {reason}", file=sys.stderr)
        print(
            f"wrote {result.rows} rows x {len(result.names)} scores ({', '.join(result.names)}) to {out}  "
            f"[dataset id {result.dataset_id}]"
        )
        return 0
    dataset = load_dataset_from_args(args)
    for reason, count in dataset.skipped.items():
        print(f"skipped {count} rows: {reason}", file=sys.stderr)
    save_dataset(dataset)  # the app finds CLI-scored datasets by id
    if args.engine == "ray":
        from euds_core.ray_engine import score_dataset_ray

        scores = score_dataset_ray(
            dataset,
            args.scores.split(","),
            device=args.device,
            batch_size=args.batch_size,
            options=options,
            address=args.ray_address,
            storage=args.ray_storage,
            progress=progress,
        )
    else:
        scores = score_dataset(
            dataset,
            args.scores.split(","),
            device=args.device,
            batch_size=args.batch_size,
            options=options,
            progress=progress,
        )
    write_table(scores_with_table(dataset, scores), out)
    print(
        f"wrote {len(scores)} rows x {len(scores.columns)} scores ({', '.join(scores.columns)}) to {out}  [dataset id {dataset.id}]"
    )
    return 0


def cmd_select(args) -> int:
    if args.manifest:
        return _select_from_manifest(args)
    if args.sampler:
        from euds_core.samplers.run import select_with_sampler

        return select_with_sampler(args)
    if not args.scores_file or not args.score:
        raise EudsInputError("select needs a scores file and --score NAME (or --manifest manifest.json)")
    out = _check_output_path(args.out)
    frame = read_scores_file(args.scores_file)
    if args.score not in frame.columns:
        raise EudsInputError(
            f"no score column '{args.score}' in {args.scores_file}; it has: {', '.join(map(str, frame.columns))}"
        )
    interval = interval_from_args(args)
    if interval is None:
        raise EudsInputError("give exactly one of: --keep F [--band ...], --lo/--hi, or --plo/--phi")
    scores = pd.to_numeric(frame[args.score], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(scores)):
        raise EudsInputError(f"the column '{args.score}' has missing or non-numeric values; rescore the file")
    mask = interval.mask(scores, args.seed)
    if args.apply_review:
        mask, n_overrides = _apply_review_to_mask(frame, mask, args.apply_review)
        print(f"applied {n_overrides} review overrides", file=sys.stderr)
    write_table(frame[mask].reset_index(drop=True), out)
    print(f"kept {int(mask.sum())} of {len(frame)}")
    return 0


def _apply_review_to_mask(frame: pd.DataFrame, mask: np.ndarray, dataset_spec: str) -> tuple[np.ndarray, int]:
    """Overrides of the dataset's review applied to ``mask``; the dataset must be the scores file's dataset."""
    from euds_core.datasets import dataset_hash
    from euds_core.review import effective_overrides, resolve_dataset_id

    if "id" not in frame.columns:
        raise EudsInputError("the scores file has no id column; --apply-review needs the file written by `score`")
    file_id = dataset_hash(frame)
    # A file written by `score` (or an export) is already normalised: its own hash is its dataset id.
    as_normalised = Path(dataset_spec).is_file() and dataset_hash(read_scores_file(dataset_spec)) == file_id
    dataset_id = file_id if as_normalised else resolve_dataset_id(dataset_spec)
    if dataset_id != file_id:
        raise EudsInputError(
            f"--apply-review {dataset_spec} is dataset {dataset_id} but the scores file holds dataset {file_id}; "
            f"pass --apply-review {file_id} (the id `score` printed)"
        )
    overrides = effective_overrides(dataset_id)
    decisions = frame["id"].astype(str).map(overrides)
    mask = np.where(decisions == "keep", True, np.where(decisions == "drop", False, mask))
    return mask, len(overrides)


def _select_from_manifest(args) -> int:
    from euds_core.export import rebuild_from_manifest

    clashing = [o for o in ("score", "keep", "lo", "hi", "plo", "phi", "apply_review") if getattr(args, o) is not None]
    if clashing:
        raise EudsInputError(f"--manifest replaces the interval options; drop --{clashing[0].replace('_', '-')}")
    result = rebuild_from_manifest(args.manifest, args.out, scores_file=args.scores_file)
    matches = result.manifest["matches"]
    print(f"kept {result.kept} of {result.total}")
    if matches["bytes"]:
        print(f"identical to the export (sha256 {result.manifest['subset']['sha256'][:12]})", file=sys.stderr)
    elif matches["ids"]:
        print("same ids in the same order as the export", file=sys.stderr)
    else:
        print("warning: the rebuilt ids differ from the manifest's export (data or scores changed?)", file=sys.stderr)
    return 0


def cmd_review(args) -> int:
    from euds_core import review

    dataset = load_dataset_from_args(args)
    writes = bool(args.set or args.from_csv)
    if sum([writes, args.list, args.undo]) != 1:
        raise EudsInputError("give --set ID=keep|drop (repeatable) or --from-csv FILE, or --list, or --undo")
    if args.list:
        review.effective_decisions(dataset.id).to_csv(sys.stdout, index=False, lineterminator="\n")
        return 0
    if args.undo:
        n = review.undo_last_action(dataset.id, reviewer=args.reviewer or None)
        print(f"undid {n} decisions" if n else "nothing to undo", file=sys.stderr)
        return 0
    decisions = review.parse_set_arguments(args.set, args.note)
    if args.from_csv:
        decisions += review.read_decisions_csv(args.from_csv)
    review.check_sample_ids([d.sample_id for d in decisions], dataset.table["id"])
    review.record_decisions(dataset.id, decisions, reviewer=args.reviewer)
    print(
        f"recorded {len(decisions)} decisions for dataset {dataset.id}; {len(review.effective_overrides(dataset.id))} overrides in effect",
        file=sys.stderr,
    )
    return 0


def cmd_export(args) -> int:
    from euds_core.datasets import save_dataset
    from euds_core.export import export_subset, guess_format
    from euds_core.review import effective_overrides, load_selection
    from euds_core.scores import make_scorer
    from euds_core.scoring import score_dataset
    from euds_core.select import SelectionSpec

    fmt = guess_format(args.out, args.format)
    dataset = load_dataset_from_args(args)
    save_dataset(dataset)  # the manifest's rebuild finds it by id
    options = {"lm": args.lm, "encoder": args.encoder, "tokenizer": args.tokenizer or args.encoder}
    interval = interval_from_args(args)
    if args.selection:
        if args.score or interval is not None:
            raise EudsInputError("--selection replaces --score and the interval options; give one or the other")
        spec = load_selection(dataset.id, args.selection)
    else:
        if (interval is not None) != bool(args.score):
            raise EudsInputError(
                "give --score NAME with exactly one of: --keep F [--band ...], --lo/--hi, or --plo/--phi"
            )
        spec = SelectionSpec(dataset.id, [interval] if interval is not None else [], seed=args.seed)
    names = list(dict.fromkeys(i.score for i in spec.intervals))
    scores = score_dataset(dataset, names, options=options) if names else pd.DataFrame(index=dataset.table.index)
    if not args.selection:
        spec.score_params = {n: make_scorer(n, options).params() for n in names}
    spec.overrides = {} if args.no_review else effective_overrides(dataset.id)
    result = export_subset(dataset, scores, spec, args.out, fmt=fmt, manifest_path=args.manifest)
    print(f"kept {result.kept} of {result.total}")
    print(f"wrote {result.path} and {result.manifest_path} ({len(spec.overrides)} review overrides)", file=sys.stderr)
    return 0


def cmd_finetune(args) -> int:
    from euds_core.finetune_cli import cmd_finetune as run

    return run(args, load_dataset_from_args, read_scores_file)


def cmd_search_interval(args) -> int:
    from euds_core.finetune_cli import cmd_search_interval as run

    return run(args, read_scores_file)


def cmd_job_run(args) -> int:
    from euds_core.jobs import run_job

    return run_job(args.job_id)


COMMANDS = {"datasets": cmd_datasets, "score": cmd_score, "select": cmd_select, "job-run": cmd_job_run}
COMMANDS.update(review=cmd_review, export=cmd_export)
COMMANDS.update({"finetune": cmd_finetune, "search-interval": cmd_search_interval})

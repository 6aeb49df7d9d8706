"""The ``datasets`` and ``score`` commands: list the built-ins, score a dataset into a Parquet file."""

from __future__ import annotations

import sys

from euds_core.cli.arguments import add_dataset_args, column_args, load_dataset_from_args
from euds_core.data.table_io import check_output_path, write_scores_provenance, write_table
from euds_core.errors import EudsInputError


def add_parsers(sub) -> None:
    sub.add_parser("datasets", help="list the built-in datasets")

    p = sub.add_parser("score", help="score every sample and write a Parquet file")
    add_dataset_args(p)
    p.add_argument("--scores", default="information,generative,semantic", help="comma-separated score names")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--batch-size", type=int, help="rows per model batch (default 16 on CPU, 64 on CUDA)")
    p.add_argument("--engine", default="local", choices=["local", "ray"])
    p.add_argument(
        "--ray-address",
        help="with --engine ray: a running cluster's HEAD_IP:PORT (or auto on the head); default: a local Ray. "
        "A token-auth cluster needs its token here (~/.ray/auth_token or RAY_AUTH_TOKEN); see docs/ray-cluster.md",
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


def cmd_datasets(args) -> int:
    from euds_core.data.builtins import describe_builtins

    for row in describe_builtins():
        if row["missing"]:
            print(f"{row['name']:<16} {row['task']:<15} missing: {row['missing']}")
        else:
            print(
                f"{row['name']:<16} {row['task']:<15} {row['rows']:>6} rows  {row['description']}"
                + (f"  labels: {row['labels']}" if row["labels"] else "")
            )
    return 0


def cmd_score(args) -> int:
    out = check_output_path(args.out)
    _check_score_args(args)
    progress = tqdm_progress()
    options = {"lm": args.lm, "encoder": args.encoder, "tokenizer": args.tokenizer or args.encoder}
    if args.stream:
        return _score_streaming(args, out, options, progress)
    from euds_core.data.datasets import save_dataset
    from euds_core.scoring.engine import score_dataset, scores_with_table

    dataset = load_dataset_from_args(args)
    for reason, count in dataset.skipped.items():
        print(f"skipped {count} rows: {reason}", file=sys.stderr)
    save_dataset(dataset)  # the app finds CLI-scored datasets by id
    score, engine_args = score_dataset, {}
    if args.engine == "ray":
        from euds_core.scoring.ray_engine import score_dataset_ray

        score, engine_args = score_dataset_ray, {"address": args.ray_address, "storage": args.ray_storage}
    scores = score(
        dataset,
        args.scores.split(","),
        device=args.device,
        batch_size=args.batch_size,
        options=options,
        progress=progress,
        **engine_args,
    )
    write_table(scores_with_table(dataset, scores), out)
    write_scores_provenance(out, options)  # the encoder an experiment's refit must use
    print(
        f"wrote {len(scores)} rows x {len(scores.columns)} scores ({', '.join(scores.columns)}) to {out}  [dataset id {dataset.id}]"
    )
    return 0


def _check_score_args(args) -> None:
    """Option combinations `score` refuses, before any work."""
    if args.stream:
        from euds_core.data.builtins import BUILTIN_DATASETS

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
        from euds_core.scoring.ray_engine import require_ray

        require_ray()  # a clear error before any work when Ray is not installed
    if args.batch_size is not None and args.batch_size <= 0:
        raise EudsInputError("--batch-size must be a positive number")


def tqdm_progress():
    """A progress callback ``(name, done, total, message)`` drawing one tqdm bar per score on stderr."""
    from tqdm import tqdm

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

    return progress


def _score_streaming(args, out, options: dict, progress) -> int:
    from euds_core.scoring.streaming import DEFAULT_BATCH_ROWS, score_file_streaming

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


COMMANDS = {"datasets": cmd_datasets, "score": cmd_score}

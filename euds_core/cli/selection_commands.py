"""The ``select``, ``review`` and ``export`` commands: keep rows by interval or sampler, record decisions, export."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from euds_core.cli.arguments import add_dataset_args, add_interval_args, interval_from_args, load_dataset_from_args
from euds_core.cli.curation_commands import add_recipe_arg, export_with_recipe, select_with_recipe
from euds_core.curation.review_overrides import apply_review_to_mask
from euds_core.data.table_io import check_output_path, read_scores_file, write_table
from euds_core.errors import EudsInputError
from euds_core.selection.sampler_selection import run_sampler


def add_parsers(sub) -> None:
    p = sub.add_parser("select", help="keep the rows inside an interval of one score")
    p.add_argument("scores_file", nargs="?", help="a file written by `score` (optional with --manifest)")
    p.add_argument("--score", help="score column to select on, e.g. igse")
    add_interval_args(p)
    p.add_argument("--apply-review", metavar="DATASET", help="apply the review overrides of DATASET (name, path or id)")
    add_recipe_arg(p)
    p.add_argument("--manifest", help="rebuild the subset an export's manifest.json describes (no other options)")
    p.add_argument(
        "--sampler",
        help="choose a set instead of an interval: hard_easy | mig | kcenter | cluster_balanced (with --keep)",
    )
    p.add_argument(
        "--encoder", help="with --sampler: sentence encoder folder or 'hashing' (default: the packaged MiniLM)"
    )
    p.add_argument("--out", required=True, help="output .jsonl, .csv or .parquet")

    _add_review_parser(sub)

    p = sub.add_parser("export", help="write the effective subset (interval + review) and a manifest.json")
    add_dataset_args(p)
    p.add_argument("--score", help="score to select on, e.g. igse (none: every row, review overrides only)")
    add_interval_args(p)
    p.add_argument("--selection", help="use a selection saved under this name instead of the interval options")
    add_recipe_arg(p)
    p.add_argument("--no-review", action="store_true", help="ignore the review overrides")
    p.add_argument(
        "--user",
        default=os.environ.get("EUDS_USER", ""),
        help="who exports (default: $EUDS_USER); with a team file, exporting needs the lead role",
    )
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


def _add_review_parser(sub) -> None:
    p = sub.add_parser("review", help="record or list manual keep/drop decisions for a dataset")
    add_dataset_args(p)
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
    p.add_argument(
        "--reviewer",
        "--user",
        default=os.environ.get("EUDS_USER", ""),
        help="who decides, stored with the decisions (default: $EUDS_USER); with a team file, their role is checked",
    )
    p.add_argument(
        "--list",
        action="store_true",
        help="print the effective decisions as CSV: id,decision,note,reviewer,timestamp,selection",
    )
    p.add_argument(
        "--undo", action="store_true", help="remove the last action still in effect (of --reviewer when given)"
    )


def cmd_select(args) -> int:
    if args.manifest:
        return _select_from_manifest(args)
    if args.sampler:
        return _select_with_sampler(args)
    if args.recipe:
        return select_with_recipe(args)
    if not args.scores_file or not args.score:
        raise EudsInputError("select needs a scores file and --score NAME (or --manifest manifest.json)")
    out = check_output_path(args.out)
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
    labels = None
    if interval.label_balanced:
        if "label" not in frame.columns:
            raise EudsInputError(
                f"--label-balanced needs a label column; {args.scores_file} has none (score it with --label-col C)"
            )
        labels = frame["label"].astype(str).to_numpy()
    mask = interval.mask(scores, args.seed, labels)
    if args.apply_review:
        mask, n_overrides = apply_review_to_mask(frame, mask, args.apply_review)
        print(f"applied {n_overrides} review overrides", file=sys.stderr)
    write_table(frame[mask].reset_index(drop=True), out)
    print(f"kept {int(mask.sum())} of {len(frame)}")
    return 0


def _select_from_manifest(args) -> int:
    from euds_core.curation.export import rebuild_from_manifest

    clashing = [o for o in ("score", "keep", "lo", "hi", "plo", "phi", "apply_review") if getattr(args, o) is not None]
    clashing += ["label_balanced"] if args.label_balanced else []
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
    from euds_core.curation import decision_inputs, decision_log

    dataset = load_dataset_from_args(args)
    writes = bool(args.set or args.from_csv)
    if sum([writes, args.list, args.undo]) != 1:
        raise EudsInputError("give --set ID=keep|drop (repeatable) or --from-csv FILE, or --list, or --undo")
    if args.list:
        decision_log.effective_decisions(dataset.id).to_csv(sys.stdout, index=False, lineterminator="\n")
        return 0
    if args.undo:
        n = decision_log.undo_last_action(dataset.id, reviewer=args.reviewer or None)
        print(f"undid {n} decisions" if n else "nothing to undo", file=sys.stderr)
        return 0
    decisions = decision_inputs.parse_set_arguments(args.set, args.note)
    source = ["command line"] if args.set else []
    if args.from_csv:
        decisions += decision_inputs.read_decisions_csv(args.from_csv)
        source.append(f"file {Path(args.from_csv).name}")
    decision_inputs.check_sample_ids([d.sample_id for d in decisions], dataset.table["id"])
    decision_log.record_decisions(dataset.id, decisions, reviewer=args.reviewer, selection=" + ".join(source))
    overrides = decision_log.effective_overrides(dataset.id)
    print(
        f"recorded {len(decisions)} decisions for dataset {dataset.id}; {len(overrides)} overrides in effect",
        file=sys.stderr,
    )
    return 0


def cmd_export(args) -> int:
    from euds_core.curation.decision_log import effective_overrides
    from euds_core.curation.export import export_subset, guess_format
    from euds_core.curation.roles import require
    from euds_core.curation.selections import load_selection
    from euds_core.data.datasets import save_dataset
    from euds_core.scores import make_scorer
    from euds_core.scoring.engine import score_dataset
    from euds_core.selection.intervals import SelectionSpec

    require(args.user, "export")
    fmt = guess_format(args.out, args.format)
    dataset = load_dataset_from_args(args)
    save_dataset(dataset)  # the manifest's rebuild finds it by id
    options = {"lm": args.lm, "encoder": args.encoder, "tokenizer": args.tokenizer or args.encoder}
    interval = interval_from_args(args)
    if args.recipe:
        return export_with_recipe(args, dataset, options, fmt)
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
    result = export_subset(dataset, scores, spec, args.out, fmt=fmt, manifest_path=args.manifest, user=args.user)
    print(f"kept {result.kept} of {result.total}")
    print(f"wrote {result.path} and {result.manifest_path} ({len(spec.overrides)} review overrides)", file=sys.stderr)
    return 0


def _select_with_sampler(args) -> int:
    """`select FILE --sampler NAME --keep F [--score S] [--encoder E] [--seed N] --out KEPT`: prints `kept K of N`."""
    if args.keep is None:
        raise EudsInputError(f"--sampler {args.sampler} needs --keep F (the fraction of rows to pick)")
    clashing = [o for o in ("lo", "hi", "plo", "phi") if getattr(args, o) is not None]
    clashing += ["label-balanced"] if args.label_balanced else []
    if clashing:
        raise EudsInputError(f"--sampler picks a set by itself; drop --{clashing[0]}")
    if not args.scores_file:
        raise EudsInputError("select --sampler needs a scores file (written by `score`)")
    out = check_output_path(args.out)
    frame = read_scores_file(args.scores_file)
    picks = run_sampler(frame, args.sampler, args.keep, score=args.score, encoder=args.encoder, seed=args.seed)
    if args.apply_review:
        mask = np.zeros(len(frame), dtype=bool)
        mask[picks] = True
        reviewed, n_overrides = apply_review_to_mask(frame, mask, args.apply_review)
        # Review drops leave the pick order; review keeps come after the picks.
        picks = np.concatenate([picks[reviewed[picks]], np.flatnonzero(reviewed & ~mask)])
        print(f"applied {n_overrides} review overrides", file=sys.stderr)
    write_table(frame.iloc[picks].reset_index(drop=True), out)  # rows in pick order
    print(f"kept {len(picks)} of {len(frame)}")
    return 0


COMMANDS = {"select": cmd_select, "review": cmd_review, "export": cmd_export}

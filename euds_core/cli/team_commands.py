"""``app`` (start the Streamlit app, refusing a network address without sign-in before anything binds) and
``double-review`` (ask two reviewers to check the same sampled rows, their agreement, a lead's resolution)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from euds_core.cli.arguments import add_dataset_args, load_dataset_from_args
from euds_core.curation.server_access import check_bind_address, configured_auth, configured_bind_address
from euds_core.errors import EudsInputError

APP_SCRIPT = Path(__file__).resolve().parents[2] / "app.py"


def add_parsers(sub) -> None:
    p = sub.add_parser("app", help="start the app; a non-loopback --address needs sign-in configured")
    p.add_argument("--address", help="address to listen on (default: .streamlit/config.toml's, localhost)")
    p.add_argument("--port", type=int, help="port to listen on (default 8501)")

    p = sub.add_parser("double-review", help="two reviewers on the same sampled rows: request, agreement, resolve")
    add_dataset_args(p)
    p.add_argument("--request", type=int, metavar="N", help="sample N rows of the dataset for --reviewers (a lead)")
    p.add_argument("--reviewers", default="", help="the two reviewers, comma-separated (with --request)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    p.add_argument("--round", help="the round to resolve in (with --resolve)")
    p.add_argument("--resolve", metavar="ID=keep|drop", help="a lead's decision on a disagreement (with --round)")
    p.add_argument(
        "--user", default=os.environ.get("EUDS_USER", ""), help="who acts (default: $EUDS_USER); a lead to request"
    )


def cmd_app(args) -> int:
    app_dir = APP_SCRIPT.parent
    check_bind_address(configured_bind_address(app_dir, args.address), configured_auth(app_dir))
    passed = [("--server.address", args.address), ("--server.port", args.port)]
    passed = [arg for name, value in passed if value is not None for arg in (name, str(value))]
    os.chdir(app_dir)  # Streamlit reads .streamlit/ from the working directory
    os.execv(sys.executable, [sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT), *passed])
    return 0  # not reached: execv replaces this process


def _print_agreement(dataset_id: str) -> None:
    from euds_core.curation.double_review import agreement, list_rounds

    rounds = list_rounds(dataset_id)
    if not rounds:
        print("no double-review rounds for this dataset", file=sys.stderr)
    for review_round in rounds:
        result = agreement(dataset_id, review_round)
        first, second = review_round.reviewers
        print(
            f"round {review_round.round_id}: {first} and {second}, {len(review_round.sample_ids)} rows, "
            f"{result.both_decided} decided by both, {result.agreed} agreed, Cohen's kappa {result.kappa_text()}"
        )
        for row in result.disagreements.itertuples(index=False):
            resolved = f", resolved {row.resolution} by {row.resolved_by}" if row.resolution else ""
            print(f"  {row.id}: {first} {row[1]}, {second} {row[2]}{resolved}")


def cmd_double_review(args) -> int:
    """``double-review DATASET``: each round's agreement; ``--request N`` or ``--round R --resolve ID=D`` first."""
    from euds_core.curation import double_review

    dataset = load_dataset_from_args(args)
    if args.request is not None:
        review_round = double_review.request_double_review(
            dataset.id,
            dataset.table["id"].astype(str).tolist(),
            args.request,
            args.reviewers.split(","),
            lead=args.user,
            seed=args.seed,
            selection="command line",
        )
        print(f"round {review_round.round_id}: {len(review_round.sample_ids)} rows", file=sys.stderr)
    if args.resolve:
        rounds = {r.round_id: r for r in double_review.list_rounds(dataset.id)}
        if args.round not in rounds:
            raise EudsInputError(f"--resolve needs --round, one of: {', '.join(rounds) or 'none yet'}")
        sample_id, _, decision = args.resolve.rpartition("=")
        double_review.resolve_disagreement(dataset.id, rounds[args.round], sample_id, decision, lead=args.user)
    _print_agreement(dataset.id)
    return 0


COMMANDS = {"app": cmd_app, "double-review": cmd_double_review}

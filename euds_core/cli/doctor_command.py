"""The ``doctor`` command: what ``auto`` chose on this machine for the LM and the encoder, and why (timings)."""

from __future__ import annotations

from pathlib import Path


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "doctor",
        help="show (measuring once if needed) which precision auto scores with on this CPU, with the timings",
    )
    p.add_argument(
        "--remeasure", action="store_true", help="time every adequate path again and replace this machine's record"
    )


def describe_record(record: dict, path: Path) -> list[str]:
    """The lines ``doctor`` prints for one measurement record (auto_choice.py)."""
    kind = "causal LM" if record["kind"] == "lm" else "encoder"
    bar = record["bar"]
    lines = [
        f"{kind} ({Path(record['model']).name}): auto = {record['chosen']}",
        f"  measured {record['measured_at']} on {record['batch']}, best of the timed rounds, took "
        f"{record['took_seconds']} s; load average then {'/'.join(map(str, record['load_average']))}",
    ]
    fastest = min(record["seconds"].values())
    for name, accuracy in record["accuracy"].items():
        seconds = record["seconds"].get(name)
        meets = accuracy >= bar["at_least"]
        timing = f"{seconds:.3f} s ({seconds / fastest:.2f}x the fastest)" if seconds is not None else "not timed"
        verdict = "chosen: the fastest that meets its bar" if name == record["chosen"] else ""
        verdict = verdict or ("meets the bar, slower" if meets else "misses the bar")
        lines.append(f"    {name:5} {timing:32} {bar['metric']} {accuracy:.4f} (bar {bar['at_least']}): {verdict}")
    lines.append(f"  record: {path}")
    return lines


def cmd_doctor(args) -> int:
    from euds_core.models import auto_choice
    from euds_core.models.precision import measure_default_models

    identity = auto_choice.machine_identity()
    print(
        f"CPU: {identity['cpu']} ({identity['flags']}), {identity['threads']} threads; torch {identity['torch']}, "
        f"onnxruntime {identity['onnxruntime'] or 'not installed'}"
    )
    for record in measure_default_models(again=args.remeasure):
        path = auto_choice.record_path(record["kind"], record["model"], list(record["accuracy"]))
        print("\n".join(describe_record(record, path)))
    return 0


COMMANDS = {"doctor": cmd_doctor}

"""Tables in and out of files for the commands and samplers: output-path checks, atomic writes, score files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from euds_core.data.readers import read_table_file
from euds_core.errors import EudsInputError
from euds_core.storage.atomic_files import atomic_path

TABLE_SUFFIXES = (".parquet", ".csv", ".jsonl")


def check_output_path(path: str | Path, suffixes: tuple[str, ...] = TABLE_SUFFIXES, option: str = "--out") -> Path:
    """``path`` as a Path when its suffix is one of ``suffixes`` and its folder exists; else a clear input error."""
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        allowed = ", ".join(suffixes[:-1]) + f" or {suffixes[-1]}" if len(suffixes) > 1 else suffixes[0]
        raise EudsInputError(f"{option} must end in {allowed}, not '{out.name}'")
    if not out.parent.exists():
        raise EudsInputError(f"the folder of {option} does not exist: {out.parent}")
    return out


def write_table(frame: pd.DataFrame, out: Path) -> None:
    """Write atomically (unique temp file + rename) in the format the suffix names: .parquet, .csv or .jsonl."""
    suffix = out.suffix.lower()
    with atomic_path(out) as tmp:
        if suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        elif suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)


def read_scores_file(path: str | Path) -> pd.DataFrame:
    """A file written by ``score`` (or any table file) as a frame; the readers' clear errors on bad input."""
    return read_table_file(path)


def scores_provenance_path(path: str | Path) -> Path:
    """The sidecar of a scores file: ``FILE.euds.json`` (what made the scores: the options, the encoder)."""
    return Path(f"{path}.euds.json")


def write_scores_provenance(path: str | Path, options: dict) -> None:
    """Record the scoring options (encoder, tokenizer, LM) beside a scores file, so an experiment that refits a
    score on its pool uses the same encoder that made the file."""
    from euds_core.storage.atomic_files import write_json_atomic

    write_json_atomic(scores_provenance_path(path), {"options": {k: v for k, v in options.items() if v}}, indent=1)


def scores_file_options(path: str | Path) -> dict | None:
    """The scoring options recorded beside a scores file, or None for a file written without them."""
    import json

    sidecar = scores_provenance_path(path)
    if not sidecar.exists():
        return None
    return dict(json.loads(sidecar.read_text(encoding="utf-8")).get("options") or {})

"""A corpus of bad input files, generated on demand (issue 7): name -> (bytes, expectation).

Expectation is ``("error", fragment)`` when the file must be refused with a message containing the
fragment, or ``("ok", rows)`` when the usable rows must load (``rows`` of them) and the rest be reported.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data.csv", "text\nhello\n")
    return buf.getvalue()


def bad_input_corpus() -> dict[str, tuple[bytes, tuple]]:
    good_parquet = _parquet_bytes(pd.DataFrame({"text": ["a b", "c d"] * 200}))
    return {
        "empty.csv": (b"", ("error", "empty")),
        "header_only.csv": (b"text,label\n", ("error", "no rows")),
        "wrong_delimiter.csv": (b"text;label\nhello there;a\nbye now;b\n", ("ok", 2)),
        "not_utf8.csv": (b"text\ncaf\xe9 cr\xe8me\n", ("error", "UTF-8")),
        "utf16_bom.csv": ("text\nhéllo wörld\nsecond row\n".encode("utf-16"), ("ok", 2)),
        "mixed_line_endings.csv": (b"text\r\nfirst\nsecond\r\nthird\n", ("ok", 3)),
        "bad_line.jsonl": (b'{"text": "ok"}\nthis is not json\n', ("error", "could not read")),
        "object.json": (
            json.dumps({"a": {"text": "x"}, "b": {"text": "y"}}).encode(),
            ("error", "not a list of records"),
        ),
        "truncated.parquet": (good_parquet[: len(good_parquet) // 2], ("error", "could not read")),
        "zip_renamed.csv": (_zip_bytes(), ("error", "zip")),
        "gigantic_row.csv": (b"text\n" + b"word " * 2_000_000 + b"\n", ("ok", 1)),
        "all_empty.csv": (b"text,label\n" + b'"",a\n' * 100_000, ("error", "no usable rows")),
        "nan_none_numbers.jsonl": (b'{"text": "fine"}\n{"text": null}\n{"text": 42}\n{"text": NaN}\n', ("ok", 2)),
        "html_<b>name</b>.csv": (b"text\n<script>alert(1)</script>\n**bold** [link](http://x)\n", ("ok", 2)),
    }


def write_bad_input(folder: Path, name: str) -> Path:
    """Write one corpus file; names with '/' (HTML tags) are stored with the slash replaced."""
    data, _ = bad_input_corpus()[name]
    path = folder / name.replace("/", "_")
    path.write_bytes(data)
    return path

"""Atomic file writes: a unique temporary name in the target's folder, then ``os.replace``.

A reader never sees a torn file, and two processes writing the same target at once both succeed (the last
rename wins; with identical content either is right). The temporary name is unique per call (``mkstemp``),
never a fixed ``<name>.tmp`` that a second writer would rename away from under the first.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(target: Path | str, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``target``; on a clean exit it replaces ``target``, else it is removed.

    The body writes the temporary path however it likes (``to_parquet``, ``np.save``, ...). ``fsync`` flushes
    the file to disk before the rename, for caches that must survive a power cut as well as a kill.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with tmp.open("rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(target: Path | str) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``target``; on a clean exit it becomes ``target`` unless one exists.

    A folder cannot be replaced atomically over an existing one, so the first finished writer wins and later
    ones discard their copy (callers write identical content, e.g. a converted model).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another writer finished first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomic(target: Path | str, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_json_atomic(target: Path | str, value, **dump_options) -> None:
    write_text_atomic(target, json.dumps(value, **dump_options))

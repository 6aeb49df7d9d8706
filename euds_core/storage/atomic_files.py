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
def atomic_folder(target: Path | str, *, replace: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``target``; on a clean exit it becomes ``target``.

    A folder cannot be renamed over a non-empty one. Without ``replace`` the first finished writer wins and
    later ones discard their copy (callers write identical content, e.g. a converted model). With ``replace``
    (a re-export) an existing ``target`` is first renamed aside to its own unique name, then removed, so a
    reader sees the old folder or the new one, never a half-written or half-deleted one (for an instant
    between the two renames, none).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if replace:
            _replace_folder(tmp, target)
            return
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another writer finished first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_folder(new: Path, target: Path, attempts: int = 20) -> None:
    """Rename ``new`` to ``target``, moving an existing ``target`` (file or folder) aside first.

    Another writer may put its own folder at ``target`` between our move-aside and our rename; then we try
    again (its copy goes aside in turn; the last finished writer wins, as with ``os.replace`` on a file).
    """
    for _ in range(attempts):
        if target.exists() or target.is_symlink():
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            try:
                os.replace(target, aside / "old")
            except FileNotFoundError:
                pass  # another writer moved it aside first
            shutil.rmtree(aside, ignore_errors=True)
        try:
            os.rename(new, target)
            return
        except OSError:
            if not target.exists():
                raise
    raise OSError(f"could not replace {target}: other writers kept replacing it")


def write_text_atomic(target: Path | str, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(target: Path | str, value, **dump_options) -> None:
    write_text_atomic(target, json.dumps(value, **dump_options))

"""One button per review decision (keep / drop / clear), each in its own column: the Review page's resolution
and Explore's map selection draw their decision buttons with it."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def decision_buttons(
    columns: Sequence,
    key: str,
    on_click: Callable[..., None],
    args: tuple = (),
    *,
    label: Callable[[str], str] = str.title,
    decisions: Sequence[str] = ("keep", "drop"),
    **button,
) -> None:
    """Buttons ``label(decision)`` keyed ``{key}_{decision}``; a click calls ``on_click(*args, decision)`` as the
    widget's callback, i.e. before the page reruns, so the rerun already shows what it wrote. ``button``: more
    ``st.button`` arguments (help, width)."""
    for column, decision in zip(columns, decisions, strict=True):
        column.button(label(decision), key=f"{key}_{decision}", on_click=on_click, args=(*args, decision), **button)

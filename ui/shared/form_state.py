"""Form values that survive a reload, kept the way the current selection is (``ui/shared/selection.py``): in the
page's URL, one query parameter per field named by its widget key and written only when it changes, and in the
session, so a reload, a bookmark or a visit to another page and back shows the values last used.

A page builds its fields' first values with ``initial`` before drawing the widgets (a value the URL cannot give,
such as a word where a number goes, a number out of range or an unknown option, falls back to the field's
default: bad input never raises) and calls ``remember`` after them. A field equal to its default leaves the URL.
Inside an ``st.form`` a value is what was last submitted (the browser sends nothing before that).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

MEMORY_KEY = "_remembered_fields"  # widget key -> last value, for a visit to another page and back
EMPTY_LIST = ""  # the URL's value of a list field left empty (absent would mean "the default")


@dataclass(frozen=True)
class Field:
    """One remembered widget value: its ``key``, ``default``, and what a value may be (``options``, or a number's
    ``lo``..``hi``). ``param`` names the query parameter when it is not the key (a link written earlier)."""

    key: str
    default: object
    options: tuple = ()
    lo: float | None = None
    hi: float | None = None
    param: str = field(default="")

    @property
    def url_name(self) -> str:
        return self.param or self.key


def _parse_one(text: str, like: object) -> object:
    if isinstance(like, bool):
        if text not in ("0", "1"):
            raise ValueError(text)
        return text == "1"
    return type(like)(text) if isinstance(like, int | float) else str(text)


def _valid(item: Field, value: object) -> bool:
    if isinstance(value, list):
        return all(_valid(Field(item.key, v, item.options, item.lo, item.hi), v) for v in value)
    if item.options and value not in item.options:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (item.lo is None or value >= item.lo) and (item.hi is None or value <= item.hi)
    return True


def _from_url(item: Field) -> object | None:
    texts = st.query_params.get_all(item.url_name)
    if not texts:
        return None
    try:
        if isinstance(item.default, list | tuple):
            like = (list(item.default) or list(item.options) or [""])[0]
            value = [] if texts == [EMPTY_LIST] else [_parse_one(t, like) for t in texts]
        else:
            value = _parse_one(texts[-1], item.default)
    except ValueError:
        return None
    return value if _valid(item, value) else None


def initial(item: Field) -> object:
    """The value to draw the widget with: the URL's (a reload, a link), else this session's last, else the default."""
    for value in (_from_url(item), st.session_state.get(MEMORY_KEY, {}).get(item.key)):
        if value is not None and _valid(item, value):
            return value
    return list(item.default) if isinstance(item.default, tuple) else item.default


def _url_texts(value: object) -> list[str]:
    values = value if isinstance(value, list | tuple) else [value]
    texts = [("1" if v else "0") if isinstance(v, bool) else str(v) for v in values]
    return texts or [EMPTY_LIST]


def remember(items: list[Field]) -> None:
    """After the widgets: their values into the session's memory and the URL (only what changed is written)."""
    memory = st.session_state.setdefault(MEMORY_KEY, {})
    for item in items:
        if item.key not in st.session_state:
            continue
        value = st.session_state[item.key]
        memory[item.key] = list(value) if isinstance(value, list | tuple) else value
        default = list(item.default) if isinstance(item.default, tuple) else item.default
        wanted = [] if memory[item.key] == default else _url_texts(memory[item.key])
        if st.query_params.get_all(item.url_name) != wanted:
            if wanted:
                st.query_params[item.url_name] = wanted
            else:
                del st.query_params[item.url_name]

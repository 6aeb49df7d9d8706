"""Defects on demand: add realistic, flagged defects to a pool, for demos and benchmarks of curation.

Five kinds, each flagged in a ``defect`` column ("" for an untouched row):

* ``near_duplicate`` — new rows, each a lightly edited copy of a pool row (a few words dropped or swapped,
  case and punctuation changed), same label. The copy's id is ``<source id>~dup<k>``, so
  :func:`duplicate_groups` finds each group (the source row plus its copies) without an extra column;
* ``boilerplate`` — new content-free rows (cookie banners, "click here to subscribe", "N/A", ...) with a
  label drawn from the pool's label mix;
* ``label_flip`` — pool rows whose label is changed to another class;
* ``garbled`` — pool rows whose text is mangled (letters scrambled, symbols and encoding debris inserted);
* ``off_topic`` — new rows drawn from another built-in dataset, with a label drawn from the pool's mix.

Rates are per kind, as fractions of the rows *before* injection (``{"label_flip": 0.1}`` flips 10 % of
them). Everything is seeded. Rows in ``protect`` (an experiment's test split) are never modified and never
copied, so a test row has no near-copy in the pool. A source of near-copies is never flipped or garbled.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError

DEFECT_COLUMN = "defect"
DEFECT_KINDS = ("near_duplicate", "boilerplate", "label_flip", "garbled", "off_topic")
ADDED_KINDS = ("near_duplicate", "boilerplate", "off_topic")  # new rows; the others modify pool rows
DUPLICATE_MARK = "~dup"
# Relative weights of the kinds when one total rate is asked for (--rate): the four kinds of the issue's
# study at about equal shares, off-topic rows a little rarer.
DEFAULT_WEIGHTS = {"near_duplicate": 0.25, "boilerplate": 0.2, "label_flip": 0.25, "garbled": 0.15, "off_topic": 0.15}
BOILERPLATE = (
    "Click here to subscribe to our newsletter.",
    "This website uses cookies to improve your experience. Accept all cookies.",
    "N/A",
    "Share this article on Facebook Twitter Email",
    "Sign in to continue reading. Already a member? Log in.",
    "Advertisement",
    "Page not found. The page you requested could not be found.",
    "Loading... please wait",
    "Terms of use | Privacy policy | Contact us",
    "lorem ipsum dolor sit amet",
    "Follow us on social media for more updates!",
    "Thanks for reading.",
)
OFF_TOPIC_SOURCE = {"bbc_news": "rotten_tomatoes"}  # any other dataset draws from bbc_news
_GARBAGE = "#$%&*@^~|<>{}[]\\/=+_"
_MOJIBAKE = ("Ã©", "â€™", "Ã¤", "â€œ", "ï¿½", "Â")


def rates_for_total(total: float, kinds: tuple[str, ...] = DEFECT_KINDS) -> dict[str, float]:
    """Per-kind rates (of the rows before injection) so that about ``total`` of the rows *after* injection are
    defects, split by :data:`DEFAULT_WEIGHTS` over ``kinds``."""
    if not 0.0 < total < 0.9:
        raise EudsInputError(f"a total defect rate must be a fraction in (0, 0.9), not {total}")
    weights = {k: DEFAULT_WEIGHTS[k] for k in kinds}
    norm = sum(weights.values())
    weights = {k: w / norm for k, w in weights.items()}
    added = sum(w for k, w in weights.items() if k in ADDED_KINDS)
    defects = total / (1.0 - total * added)  # D / n with D / (n + added * D) = total
    return {k: round(w * defects, 6) for k, w in weights.items()}


def parse_rates(text: str) -> dict[str, float]:
    """``near_duplicate=0.1,label_flip=0.05`` -> {kind: rate}, with clear messages for bad input."""
    rates = {}
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        kind, _, value = part.partition("=")
        kind = kind.strip()
        if kind not in DEFECT_KINDS:
            raise EudsInputError(f"unknown defect kind '{kind}'; choose from {', '.join(DEFECT_KINDS)}")
        try:
            rates[kind] = float(value)
        except ValueError:
            raise EudsInputError(f"'{part}': give KIND=RATE with RATE a fraction, e.g. label_flip=0.1") from None
    return rates


def check_rates(rates: dict[str, float], table: pd.DataFrame) -> None:
    if not rates:
        raise EudsInputError("no defect rates given; e.g. --rate 0.3 or --rates near_duplicate=0.1,label_flip=0.1")
    for kind, rate in rates.items():
        if kind not in DEFECT_KINDS:
            raise EudsInputError(f"unknown defect kind '{kind}'; choose from {', '.join(DEFECT_KINDS)}")
        if not 0.0 <= rate <= 1.0:
            raise EudsInputError(f"the rate of {kind} must be a fraction in [0, 1], not {rate}")
    if "label_flip" in rates and rates["label_flip"] > 0:
        if "label" not in table.columns or table["label"].nunique() < 2:
            raise EudsInputError("label flips need a label column with at least two classes")
    if DEFECT_COLUMN in table.columns and (table[DEFECT_COLUMN].astype(str) != "").any():
        raise EudsInputError("this dataset already carries injected defects; inject into the clean dataset instead")


def inject_defects(
    table: pd.DataFrame,
    rates: dict[str, float],
    *,
    seed: int = 0,
    protect: np.ndarray | None = None,
    off_topic_texts: list[str] | None = None,
) -> pd.DataFrame:
    """A copy of the normalised ``table`` with defects at ``rates`` and a ``defect`` column (see module doc).

    The original rows keep their order and come first; added rows follow, in a seeded shuffled order.
    ``protect``: row indices that stay untouched and are never copied. ``off_topic_texts``: the texts to draw
    off-topic rows from (needed when ``off_topic`` has a rate).
    """
    check_rates(rates, table)
    if "question" in table.columns:
        raise EudsInputError("defect injection works on text (classification or unlabelled) data, not Q&A pairs")
    rng = np.random.default_rng(seed)
    n = len(table)
    counts = {k: int(round(rates.get(k, 0.0) * n)) for k in DEFECT_KINDS}
    out = table.reset_index(drop=True).copy()
    out[DEFECT_COLUMN] = ""
    free = np.setdiff1d(np.arange(n), np.asarray(protect if protect is not None else [], dtype=np.int64))
    free = rng.permutation(free)
    modified = counts["label_flip"] + counts["garbled"]
    n_sources = (counts["near_duplicate"] + 1) // 2  # about two near-copies per source row
    if modified + min(n_sources, 1) > len(free):
        raise EudsInputError(f"the rates ask to change {modified} rows but only {len(free)} rows may be changed")
    flips, garbles = free[: counts["label_flip"]], free[counts["label_flip"] : modified]
    sources = free[modified : modified + n_sources]
    _flip_labels(out, flips, rng)
    out.loc[garbles, "text"] = [garble(t, rng) for t in out.loc[garbles, "text"]]
    out.loc[np.concatenate([flips, garbles]), DEFECT_COLUMN] = ["label_flip"] * len(flips) + ["garbled"] * len(garbles)
    added = [
        _near_copies(out, sources, counts["near_duplicate"], rng),
        _new_rows(out, [BOILERPLATE[i] for i in rng.integers(len(BOILERPLATE), size=counts["boilerplate"])], rng),
        _new_rows(out, _off_topic(off_topic_texts, counts["off_topic"], rng), rng),
    ]
    for frame, kind in zip(added, ADDED_KINDS, strict=True):
        if kind != "near_duplicate":
            frame["id"] = [f"{kind}-{i:05d}" for i in range(len(frame))]
        frame[DEFECT_COLUMN] = kind
    extra = pd.concat([f for f in added if len(f)], ignore_index=True) if any(len(f) for f in added) else None
    if extra is not None:
        extra = extra.iloc[rng.permutation(len(extra))]
        out = pd.concat([out, extra], ignore_index=True)
    return out.reset_index(drop=True)


def _flip_labels(out: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> None:
    if not len(rows):
        return
    classes = np.array(sorted(out["label"].astype(str).unique()))
    old = out.loc[rows, "label"].astype(str).to_numpy()
    shift = rng.integers(1, len(classes), size=len(rows))  # never 0: the new label differs from the old
    out.loc[rows, "label"] = classes[(np.searchsorted(classes, old) + shift) % len(classes)]


def _near_copies(out: pd.DataFrame, sources: np.ndarray, count: int, rng: np.random.Generator) -> pd.DataFrame:
    """``count`` lightly edited copies of ``sources`` rows (each source copied at least once when possible)."""
    if count == 0 or not len(sources):
        return out.iloc[:0].copy()
    picks = np.concatenate([sources, rng.choice(sources, size=max(count - len(sources), 0))])[:count]
    frame = out.loc[picks].copy()
    seen: dict[int, int] = {}
    ids = []
    for row in picks:
        seen[row] = seen.get(row, 0) + 1
        ids.append(f"{out.at[row, 'id']}{DUPLICATE_MARK}{seen[row]}")
    frame["id"] = ids
    frame["text"] = [near_copy(t, rng) for t in frame["text"]]
    return frame


def _new_rows(out: pd.DataFrame, texts: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Rows with ``texts`` and, where the pool has labels, a label drawn from the pool's label mix."""
    frame = pd.DataFrame({"id": [""] * len(texts), "text": list(texts)})
    if "label" in out.columns:
        frame["label"] = out["label"].astype(str).to_numpy()[rng.integers(len(out), size=len(texts))]
    return frame


def _off_topic(texts: list[str] | None, count: int, rng: np.random.Generator) -> list[str]:
    if count == 0:
        return []
    if not texts:
        raise EudsInputError("off-topic rows need texts from another dataset (none given)")
    return [texts[i] for i in rng.choice(len(texts), size=count, replace=count > len(texts))]


def off_topic_texts_for(dataset_name: str) -> list[str]:
    """The texts of the built-in dataset off-topic rows come from (another one than ``dataset_name``)."""
    from euds_core.data.builtins import load_builtin

    return load_builtin(OFF_TOPIC_SOURCE.get(dataset_name, "bbc_news")).table["text"].tolist()


# ---------------------------------------------------------------------------------------------- text edits


def near_copy(text: str, rng: np.random.Generator) -> str:
    """A light edit a scraper or a re-post would make: drop or swap a few words, change case, add a tail."""
    words = text.split()
    if len(words) > 6:
        for _ in range(max(1, len(words) // 20)):
            del words[rng.integers(len(words))]
        i = int(rng.integers(len(words) - 1))
        words[i], words[i + 1] = words[i + 1], words[i]
    copy = " ".join(words)
    edit = int(rng.integers(4))
    if edit == 0:
        copy = copy.lower()
    elif edit == 1:
        copy = copy + " (via newswire)"
    elif edit == 2:
        copy = re.sub(r"[.!?]$", "", copy) + " ..."
    return copy if copy != text else copy + "."


def garble(text: str, rng: np.random.Generator) -> str:
    """Mangled text (broken OCR, bad encodings): letters scrambled in most words, debris between words."""
    out = []
    for word in text.split():
        roll = rng.random()
        if roll < 0.55 and len(word) > 2:
            word = "".join(rng.permutation(list(word)))
        elif roll < 0.7:
            word = "".join(rng.choice(list(_GARBAGE), size=int(rng.integers(2, 6))))
        elif roll < 0.8:
            word = word + _MOJIBAKE[int(rng.integers(len(_MOJIBAKE)))]
        out.append(word)
    return " ".join(out) if out else "".join(rng.choice(list(_GARBAGE), size=8))


# ---------------------------------------------------------------------------------------------- reading flags


def has_defects(table: pd.DataFrame) -> bool:
    return DEFECT_COLUMN in table.columns


def defect_flags(table: pd.DataFrame) -> np.ndarray:
    """(n,) defect kind per row, "" for clean rows (all "" when the table has no ``defect`` column)."""
    if DEFECT_COLUMN not in table.columns:
        return np.full(len(table), "", dtype=object)
    return table[DEFECT_COLUMN].fillna("").astype(str).to_numpy(dtype=object)


def duplicate_groups(table: pd.DataFrame) -> np.ndarray:
    """(n,) group number per row: a near-copy and its source share one (>= 0); every other row has -1."""
    ids = table["id"].astype(str).to_numpy()
    roots = np.array([i.split(DUPLICATE_MARK, 1)[0] for i in ids], dtype=object)
    copied = {r for r, i in zip(roots, ids, strict=True) if r != i}
    group_of = {r: g for g, r in enumerate(sorted(copied))}
    return np.array([group_of.get(r, -1) for r in roots], dtype=np.int64)


def rows_allowed_in_test(table: pd.DataFrame) -> np.ndarray | None:
    """Rows an experiment may put in its test split: untouched rows outside every near-duplicate group.
    None for a table without a ``defect`` column (every row is eligible)."""
    if not has_defects(table):
        return None
    return np.flatnonzero((defect_flags(table) == "") & (duplicate_groups(table) < 0))

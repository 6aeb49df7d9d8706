"""The review API in one import for the app's pages: re-exports only, no logic of its own.

The concerns live in their own modules: :mod:`~euds_core.curation.decision_log` (the append-only log, undo,
attribution), :mod:`~euds_core.curation.decision_inputs` (``--set`` strings and decision CSVs),
:mod:`~euds_core.curation.selections` (named selections), :mod:`~euds_core.curation.review_overrides`
(a dataset's review applied to a mask) and :mod:`~euds_core.curation.roles` (who may write).
"""

from euds_core.curation.decision_inputs import (
    DECISIONS,
    DecisionInput,
    check_sample_ids,
    normalise_decision,
    parse_set_arguments,
    read_decisions_csv,
)
from euds_core.curation.decision_log import (
    LIST_COLUMNS,
    UNDO_PREFIX,
    can_undo,
    count_decisions,
    decision_log,
    effective_decisions,
    effective_overrides,
    record_decisions,
    reviewer_counts,
    set_bulk_decision,
    set_decision,
    undo_last_action,
)
from euds_core.curation.review_overrides import apply_review_to_mask, resolve_dataset_id
from euds_core.curation.selections import delete_selection, list_selections, load_selection, save_selection

__all__ = [
    "DECISIONS",
    "LIST_COLUMNS",
    "UNDO_PREFIX",
    "DecisionInput",
    "apply_review_to_mask",
    "can_undo",
    "check_sample_ids",
    "count_decisions",
    "decision_log",
    "delete_selection",
    "effective_decisions",
    "effective_overrides",
    "list_selections",
    "load_selection",
    "normalise_decision",
    "parse_set_arguments",
    "read_decisions_csv",
    "record_decisions",
    "resolve_dataset_id",
    "reviewer_counts",
    "save_selection",
    "set_bulk_decision",
    "set_decision",
    "undo_last_action",
]

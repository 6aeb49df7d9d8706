"""Fine-tune-page choice of the test set: a held-out split of this dataset, or your own file.

"This file" appends the file's rows to the pool as the test split (``euds_core/data/test_file.py``) and makes
that combined dataset the current one: score it on the Score page, then every grid and search on it tests on
exactly the file's rows, which no choice sees.
"""

from __future__ import annotations

import streamlit as st

from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError

SPLIT, FILE = "a held-out split of this dataset", "this file"


def test_set_section(dataset: Dataset) -> None:
    from euds_core.data.test_file import TEST_ID_PREFIX, appended_test_rows

    attached = appended_test_rows(dataset.table)
    if attached is not None:
        st.caption(
            f"Test split: the {len(attached):,} rows of the attached test file (ids `{TEST_ID_PREFIX}…`); every other "
            "row is pool."
        )
        return
    choice = st.radio("Evaluate on", [SPLIT, FILE], horizontal=True, key="ft_test_choice")
    if choice == SPLIT:
        return
    path = st.text_input(
        "Test file on this machine (.csv, .jsonl or .parquet with the same columns)", key="ft_test_path"
    )
    if st.button("Attach the test file", key="ft_test_attach", disabled=not path.strip()):
        try:
            dataset_id, message = attach_and_save(dataset, path.strip())
        except EudsInputError as exc:
            st.error("Cannot attach the test file:")
            st.text(str(exc))
            return
        from ui.shared.state import set_current_dataset

        set_current_dataset(dataset_id)
        st.success(f"Now using dataset {dataset_id} (pool + test file). Score it on the Score page, then run a grid.")
        st.text(message)


def attach_and_save(dataset: Dataset, path: str) -> tuple[str, str]:
    """Read the file with the dataset's own columns, append it as the test split, save; (new id, duplicates note)."""
    from euds_core.data.datasets import load_dataset, save_dataset
    from euds_core.data.test_file import attach_test_file, duplicates_message

    if dataset.task == "qa":
        test = load_dataset(path, question_col="question", answer_col="answer")
    else:  # the text and label columns are guessed as on the Load page
        test = load_dataset(path, guess_label=dataset.has_labels)
    attachment = attach_test_file(dataset, test)
    return save_dataset(attachment.dataset), duplicates_message(attachment)

"""Errors a user can cause. The CLI prints them as one ``error: ...`` line (exit 2), pages as ``st.error``.

Anything else raised inside euds_core is a bug and is allowed to surface.
"""


class EudsInputError(ValueError):
    """Bad input from the user (file, column, option); the message says what to do about it."""


class ScoringCancelled(RuntimeError):
    """The user (or a job's cancel flag) stopped long work between two batches."""


class EudsPermissionError(EudsInputError):
    """The signed-in (or named) person's role does not allow the action; the message says which role would."""

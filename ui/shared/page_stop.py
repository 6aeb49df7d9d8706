"""End a page's run early without losing the user's next click.

``st.stop()`` asks the script runner itself to stop (``ScriptRequests.request_stop`` in streamlit 1.67), which
throws away a rerun queued while the run was in flight: a click on a fragment's button (the sidebar's Cancel)
that landed while Explore was drawing its "score it first" prompt and ending in ``st.stop()`` never reached its
callback (traced in the server: the click's queued fragment rerun was dropped by that stop, 3 runs of 5). Raising
the exception ``st.stop()`` leads to ends this run the same way and leaves a queued rerun to run next.
"""

from __future__ import annotations

from typing import NoReturn

from streamlit.runtime.scriptrunner_utils.exceptions import StopException


def end_page() -> NoReturn:
    """Stop drawing this page here (like ``st.stop()``), keeping any click that arrived meanwhile."""
    raise StopException()

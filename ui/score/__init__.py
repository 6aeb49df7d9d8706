"""The Score page's room. The page needs only shared widgets (``ui.shared.scores``, ``ui.shared.jobs_view``)."""

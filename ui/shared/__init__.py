"""Widgets and session state used by several pages: the current dataset and selection, score lookup, jobs panel, charts."""

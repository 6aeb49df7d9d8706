"""Curation: what a reviewer decides and what leaves the tool.

Owns ``review`` (the append-only decision log, undo, saved selections, overrides applied to a mask),
``export`` (the curated subset + a manifest that rebuilds it) and ``html_report`` (a self-contained report
of a selection). May import every package below it, up to :mod:`euds_core.scoring`.
"""

"""Curation: what a reviewer decides and what leaves the tool.

Owns ``decision_log`` (the append-only decisions, undo, attribution), ``decision_inputs`` (decisions as
users write them), ``roles`` (who may write, from the workspace's team file), ``selections`` (named
selections), ``review_overrides`` (a review applied to a mask), ``review`` (re-exports for the pages),
``export`` (the curated subset + a manifest that rebuilds it) and ``html_report`` (a self-contained report
of a selection). May import every package below it, up to :mod:`euds_core.scoring`.
"""

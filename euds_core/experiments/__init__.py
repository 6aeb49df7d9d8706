"""Experiments that prove a selection: fine-tune grids and the optimal-interval search.

Owns ``finetune`` (strategies x sizes x seeds of a BERT-family classifier or Q&A ranker, runs stored as they
finish) and ``interval_search`` (a cheap proxy over a (p_lo, p_hi) grid). May import every package below
it, up to :mod:`euds_core.curation`.
"""

"""Experiments that prove a selection: fine-tune grids, the optimal-interval search, and their statistics.

Owns ``splits`` (the one test / pool / validation split), ``training`` (fine-tune one subset: a BERT-family
classifier or Q&A ranker), ``finetune`` (strategies x sizes x seeds, runs stored as they finish),
``interval_search`` (a cheap proxy over a (p_lo, p_hi) grid, gain over random), ``pool_scores`` (label-using
scores refitted on the pool) and ``statistics`` (95 % CIs over seeds, paired verdicts against random). May
import every package below it, up to :mod:`euds_core.curation`.
"""

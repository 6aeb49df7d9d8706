"""Selection: which rows to keep, as pure functions over score arrays plus the set-choosing samplers.

Owns ``intervals`` (threshold / percentile / keep-fraction intervals, masks, the SelectionSpec JSON),
``interval_index`` (sorted scores: an interval drag is two ``searchsorted`` calls), ``samplers/`` (MIG,
k-center, hard/easy, cluster-balanced), ``sampler_selection`` (a sampler run on a scores file),
``subset_report`` (diversity, coverage, label balance) and ``embed_map`` (the 2-D UMAP + HDBSCAN map).
May import :mod:`euds_core.storage`, :mod:`euds_core.data` and :mod:`euds_core.models`.
"""

"""Scoring a dataset: run the registered scorers (:mod:`euds_core.scores`) through the cache.

Owns ``engine`` (the local engine: score names, combinations, cached values per dataset), ``streaming``
(a file larger than memory in batches, resumable shards) and ``ray_engine`` (the same scorers in Ray Data
actors). May import every package below it: storage, data, models, selection, scores.
"""

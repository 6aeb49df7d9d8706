"""Storage, the bottom layer: the workspace folder, the SQLite store, the score/embedding cache, atomic writes.

Owns ``workspace`` (``EUDS_HOME``), ``store`` (SQLite in WAL mode: selections, review log, fine-tune runs,
jobs), ``cache`` (checksummed arrays keyed by dataset, scorer and params) and ``atomic_files`` (unique
temporary name + rename). May import only :mod:`euds_core.errors`.
"""

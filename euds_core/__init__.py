"""EUDS Studio core library: datasets, entropy scorers, score cache, selection and the CLI.

Nothing in this package imports Streamlit; the pages in ``pages/`` call into it.
"""

__version__ = "0.1.0"

"""The Load page's room: built-in listing, safe storage of uploads, column choosers, dataset summary."""

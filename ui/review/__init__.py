"""The Review page's room: the review table, its filters, clusters and click handlers."""

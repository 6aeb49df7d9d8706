"""The Fine-tune page's room: starting grid/search jobs, their live progress, and the result figures."""

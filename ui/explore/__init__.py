"""The Explore page's room: interval controls, score choice, the page's sections."""

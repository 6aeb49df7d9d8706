"""The Export page's room: subset and manifest downloads, a workspace copy, the HTML report."""

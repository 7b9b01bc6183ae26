"""One module per pipeline step; each exposes its config model and a Stage class."""

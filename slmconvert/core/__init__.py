"""Shared helpers: records, I/O, hashing, models, progress."""

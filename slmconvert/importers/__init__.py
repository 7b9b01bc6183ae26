"""Importers: map every supported log format to the canonical record."""

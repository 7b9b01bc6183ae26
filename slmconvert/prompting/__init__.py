"""Prompting: how an agent call becomes model input text and model output an assistant message."""

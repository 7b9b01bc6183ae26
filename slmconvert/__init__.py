"""slmconvert: turn an agent's LLM call logs into fine-tuned small language models."""

__version__ = "0.1.0"

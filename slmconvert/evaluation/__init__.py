"""Evaluation: scoring a small model's answers against the LLM's recorded responses
(metrics, bootstrap confidence intervals), shared by the ``select`` and ``evaluate``
stages."""

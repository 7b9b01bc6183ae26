"""The importers by name, in sniffing order; unknown names fail with "did you mean"."""

from __future__ import annotations

from typing import Any

from slmconvert.errors import ConfigError, did_you_mean
from slmconvert.importers.anthropic import Anthropic
from slmconvert.importers.base import Importer
from slmconvert.importers.canonical import Canonical
from slmconvert.importers.capture import Capture
from slmconvert.importers.gemini import Gemini
from slmconvert.importers.langfuse import Langfuse
from slmconvert.importers.openai import (
    OpenAIBatchInput,
    OpenAIBatchOutput,
    OpenAIChat,
    OpenAIFinetune,
    OpenAIResponses,
)
from slmconvert.importers.otel import OTelGenAI
from slmconvert.importers.vcr import VCRCassette

# Sniffing order matters: specific shapes before general ones.
IMPORTERS: dict[str, type[Importer]] = {c.name: c for c in (
    Capture, OTelGenAI, Langfuse, OpenAIBatchInput, OpenAIBatchOutput, Anthropic, Gemini,
    OpenAIResponses, OpenAIChat, OpenAIFinetune, Canonical, VCRCassette)}


def get(name: str) -> Importer:
    if name not in IMPORTERS:
        raise ConfigError(f"unknown format '{name}'{did_you_mean(name, list(IMPORTERS))}; "
                          f"known: {', '.join(IMPORTERS)}")
    return IMPORTERS[name]()


def detect(value: Any) -> Importer | None:
    for cls in IMPORTERS.values():
        imp = cls()
        if imp.sniff(value):
            return imp
    return None

"""Sentence embeddings for clustering, with the repeats that agent logs are full of removed.

Calls of one task resend the same system prompt (and, after masking, the same template),
so most texts in a batch were seen before. :class:`Embedder` encodes each distinct text
once, keeps a bounded cache of recent ones, and truncates long texts to what the model
reads anyway before tokenising them.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from slmconvert.core.progress import NullReporter, Reporter
from slmconvert.errors import ModelUnavailableError


def load_sentence_model(name: str, reporter: Reporter | None = None) -> Any:
    """A sentence-transformers model from the catalog name, pkg:/hf: source or path."""
    from slmconvert.core.models import resolve, source_for

    entry = resolve(name)
    path = source_for(entry).locate(reporter or NullReporter())
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would break our own

    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"embedding model {name} ({path}): {exc}") from exc


_LOADED: dict[tuple[str, int, int | None], Embedder] = {}


class Embedder:
    def __init__(self, model: Any, batch_size: int = 1, max_tokens: int | None = None,
                 cache_size: int = 50_000) -> None:
        self.model = model
        if max_tokens is not None:  # attention and MLP cost grow with it: read the opening
            model.max_seq_length = min(max_tokens, int(model.max_seq_length or max_tokens))
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.dim = int(model.get_embedding_dimension()
                       if hasattr(model, "get_embedding_dimension")
                       else model.get_sentence_embedding_dimension())
        # The model reads at most max_seq_length word pieces; ~6 characters per piece is
        # generous for English and keeps the tokenizer off the rest of a long prompt.
        self.max_chars = int(getattr(model, "max_seq_length", 256) or 256) * 6
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.encoded = 0  # texts that went through the model
        self.requested = 0

    @classmethod
    def load(cls, name: str, batch_size: int = 1, max_tokens: int | None = None,
             reporter: Reporter | None = None) -> Embedder:
        """The embedder for these settings, loaded once per process: a second stage or
        command in the same process (``cluster`` then ``cluster assign``, ``iterate``)
        reuses the model and the texts it has already embedded."""
        key = (name, batch_size, max_tokens)
        if key not in _LOADED:
            _LOADED[key] = cls(load_sentence_model(name, reporter), batch_size, max_tokens)
        return _LOADED[key]

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text, in order."""
        keys = [t[: self.max_chars] for t in texts]
        self.requested += len(keys)
        todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if todo:
            vecs = self.model.encode(todo, batch_size=self.batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
            self.encoded += len(todo)
            for k, v in zip(todo, np.asarray(vecs, dtype=np.float32), strict=True):
                self._cache[k] = v
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = self._cache[k]
            self._cache.move_to_end(k)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out

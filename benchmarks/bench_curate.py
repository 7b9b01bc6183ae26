"""Curate scrubbing throughput against raw Presidio analyze + anonymize on the same calls.

    python benchmarks/bench_curate.py WORKSPACE [--records N]

WORKSPACE must have a collect/ stage (e.g. `slmconvert collect sample_logs --out WS`).
Raw Presidio: AnalyzerEngine (same spaCy model) + AnonymizerEngine on every message
text of every call, one text at a time, its default recognizers only: what a user
would write without slmconvert. Ours: Scrubber.scrub_batch (batched nlp.pipe, cache of
repeated texts, our recognizers, JSON walking, consistent placeholders, verification),
as configured by default, and without the second NER opinion on names (its cost).
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from slmconvert.core.parquet import iter_records
from slmconvert.pii.analyzer import presidio_stock_analyzer
from slmconvert.pii.config import PiiConfig
from slmconvert.pii.scrubber import Scrubber


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--records", type=int, default=600)
    args = ap.parse_args()
    recs = list(itertools.islice(iter_records(args.workspace / "collect/calls.parquet"),
                                 args.records))
    texts = [m.content for r in recs for m in [*r.messages, *([r.response] if r.response
                                                              else [])] if m.content]

    from presidio_anonymizer import AnonymizerEngine

    scrubber = Scrubber(PiiConfig())
    model = scrubber.detector.spacy_model  # the same spaCy model for both
    analyzer = presidio_stock_analyzer(model)
    anonymizer = AnonymizerEngine()
    t0 = time.perf_counter()
    for t in texts:
        anonymizer.anonymize(text=t, analyzer_results=analyzer.analyze(t, "en"))
    raw = time.perf_counter() - t0

    def timed(scrub: Scrubber) -> float:
        t0 = time.perf_counter()
        for i in range(0, len(recs), 64):
            scrub.scrub_batch(recs[i:i + 64])
        return time.perf_counter() - t0

    ours = timed(scrubber)
    first_only = timed(Scrubber(PiiConfig(second_opinion_model=None)))
    chars = sum(len(t) for t in texts)
    print(f"{len(recs)} calls, {len(texts)} message texts, {chars / 1e6:.2f} M chars, "
          f"spaCy model {model}")
    print(f"raw Presidio analyze+anonymize: {raw:.1f} s, {len(recs) / raw:.1f} calls/s")
    print(f"slmconvert Scrubber:            {ours:.1f} s, {len(recs) / ours:.1f} calls/s "
          f"({scrubber.detector.model_label})")
    print(f"ratio (ours / raw, calls/s):     {raw / ours:.2f}x")
    print(f"without the second opinion:     {first_only:.1f} s, "
          f"{len(recs) / first_only:.1f} calls/s, {raw / first_only:.2f}x")


if __name__ == "__main__":
    main()

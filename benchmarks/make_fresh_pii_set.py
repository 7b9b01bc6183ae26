"""Generate a FRESH span-labelled PII set in the presidio-research format.

Why this exists
---------------
The PII rules of the curate stage were tuned while looking at
/work/shared/data/pii/presidio_synth_dataset_v2.json (and presidio_generated_small.json),
so scores on those files are optimistic.  This script draws a new sample from the same
generator (presidio-research's ``PresidioSentenceFaker``: the package's own templates,
FakeNameGenerator records and Faker providers, locale en_US, 5% lower-cased sentences)
with a seed nobody used before, giving an evaluation set that no rule was written
against.  Generate it on demand, score it with ``slmconvert curate eval-pii FILE``,
and never commit it or read its sentences while writing or tuning rules; when a set has
been looked at, move on to a new seed.

How to run (in a throw-away virtualenv, NOT the project's .venv)
----------------------------------------------------------------
    python3 -m venv /tmp/x
    /tmp/x/bin/pip install presidio-evaluator==0.3.2
    /tmp/x/bin/python benchmarks/make_fresh_pii_set.py --out /tmp/fresh_pii.json

Options: ``--n`` sentences (default 1500), ``--seed`` (default 20261203).  The full
``pip install`` pulls in transformers/scikit-learn/plotly, which generation does not need;
a lighter install that works is
    /tmp/x/bin/pip install faker pandas numpy tqdm pyyaml requests python-dotenv \
        spacy presidio-analyzer presidio-anonymizer
    /tmp/x/bin/pip install --no-deps presidio-evaluator==0.3.2
(no spaCy model is needed).  The output is deterministic for a given seed and package
versions (Faker's data changes between releases, so pin Faker too if you need the
exact bytes again); no network access is made.

Output: a JSON list of ``{"full_text", "spans": [{"entity_type", "entity_value",
"start_position", "end_position"}], "masked", "template_id", "metadata"}``, the same
layout as presidio_synth_dataset_v2.json.  Every span is checked to satisfy
``full_text[start_position:end_position] == entity_value``.

Deliberate deviations from calling the package naively, all to keep the output
faithful to the published files and reproducible:
  * the package's templates.txt writes line breaks as a literal backslash-n;
    ``PresidioSentenceFaker`` leaves them as the two characters, whereas the older
    ``PresidioDataGenerator.read_template_file`` (which produced the published v2 set,
    whose sentences contain real line breaks) turned them into newlines.  We read the
    same template file (same order, so template_id is unchanged) and do the same.
  * presidio-evaluator 0.3.x lower-cases the span values of the "lower case" samples
    but writes the lower-cased sentence to an unused ``fake`` attribute, leaving
    ``full_text`` in its original case (spans then do not match the text).  The
    published v2 set has its lower-case sentences lower-cased in ``full_text``, so we
    use the lower-cased text.
  * ``HospitalProvider`` queries WikiData when constructed; we make it use its
    built-in fallback list so that generation is offline and deterministic (no
    default template uses hospitals).  Python's ``random`` is also seeded before the
    FakeNameGenerator records are loaded, because that loading draws random numbers
    before the package applies the seed.  Faker draws dates (``{{date_time}}``,
    ``{{year}}``, ``{{day_of_week}}``, ``{{date_of_birth}}``) relative to "now" and the
    local time zone, so "now" is pinned to REFERENCE_NOW and the time zone to UTC.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import hashlib
import io
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

DEFAULT_N = 1500
DEFAULT_SEED = 20261203  # must differ from any seed presidio-research used (42, unseeded)
LOCALE = "en_US"
LOWER_CASE_RATIO = 0.05  # as in presidio-research's generation notebook
# Faker's dates are drawn up to "now"; pin it so a seed gives the same file on any day.
REFERENCE_NOW = _dt.datetime(2026, 12, 3, 12, 0, 0, tzinfo=_dt.UTC)


class _FrozenMeta(type):
    # Keep isinstance(x, datetime/date) true for ordinary datetime/date objects.
    def __instancecheck__(cls, obj):
        return isinstance(obj, cls.__bases__[0])


class _FrozenDatetime(_dt.datetime, metaclass=_FrozenMeta):
    @classmethod
    def now(cls, tz=None):
        return REFERENCE_NOW.replace(tzinfo=None) if tz is None else REFERENCE_NOW.astimezone(tz)


class _FrozenDate(_dt.date, metaclass=_FrozenMeta):
    @classmethod
    def today(cls):
        return REFERENCE_NOW.date()


def _pin_clock() -> None:
    """Make Faker's date provider see REFERENCE_NOW as now, in UTC."""
    os.environ["TZ"] = "UTC"
    time.tzset()
    import faker.providers.date_time as fdt

    fdt.datetime = _FrozenDatetime
    fdt.dtdate = _FrozenDate


def generate(n: int, seed: int) -> list[dict]:
    import numpy as np
    from faker import Faker
    from presidio_evaluator.data_generator import (
        PresidioSentenceFaker,
        presidio_templates_file_path,
    )
    from presidio_evaluator.data_generator.faker_extensions import providers

    templates = [
        line.replace("\\n", "\n").strip()
        for line in presidio_templates_file_path.read_text(encoding="utf-8").splitlines()
    ]

    _pin_clock()
    # Seed after all imports (importing draws random numbers) and before the package
    # loads its person records (which draws random numbers before it applies the seed).
    random.seed(seed)
    np.random.seed(seed)
    Faker.seed(seed)

    # Offline + deterministic: never query WikiData for hospital names.
    providers.HospitalProvider.load_wiki_hospitals = lambda self: list(self.default_list)

    # The package prints chatty notices to stdout; keep stdout for our summary.
    with contextlib.redirect_stdout(io.StringIO()):
        faker = PresidioSentenceFaker(
            locale=LOCALE,
            lower_case_ratio=LOWER_CASE_RATIO,
            sentence_templates=templates,
            random_seed=seed,
        )
        samples = faker.generate_new_fake_sentences(num_samples=n)

    out = []
    for i, s in enumerate(samples):
        text = s.full_text
        lowered = getattr(s, "fake", None)  # set only by the package's lower-casing
        if lowered is not None:
            text = lowered
        spans = []
        for sp in s.spans:
            span = {
                "entity_type": sp.entity_type,
                "entity_value": str(sp.entity_value),
                "start_position": int(sp.start_position),
                "end_position": int(sp.end_position),
            }
            if text[span["start_position"]:span["end_position"]] != span["entity_value"]:
                raise SystemExit(f"sample {i}: span {span} does not match full_text")
            spans.append(span)
        out.append({
            "full_text": text,
            "masked": s.masked,
            "spans": spans,
            "template_id": s.template_id,
            "metadata": None,
        })
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output JSON file")
    ap.add_argument("--n", type=int, default=DEFAULT_N, help="number of sentences")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    args = ap.parse_args(argv)

    data = generate(args.n, args.seed)
    payload = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    args.out.write_text(payload, encoding="utf-8")

    from importlib.metadata import version
    counts = Counter(sp["entity_type"] for item in data for sp in item["spans"])
    print(f"wrote {args.out}: {len(data)} sentences, {sum(counts.values())} spans, "
          f"seed {args.seed}, presidio-evaluator {version('presidio-evaluator')}, "
          f"faker {version('faker')}")
    for t, c in counts.most_common():
        print(f"  {t:18s} {c}")
    print(f"sha256 {hashlib.sha256(payload.encode('utf-8')).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

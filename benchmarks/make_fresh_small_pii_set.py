"""Generate a FRESH labelled PII set in the style of presidio_generated_small.json.

Why this exists
---------------
``presidio_generated_small.json`` was made with presidio-research's older generator
(``PresidioDataGenerator`` of presidio-evaluator 0.1.x): people and addresses come from
its FakeNameGenerator records of many nationalities (Czech, Estonian, Tunisian, Greek
Cypriot addresses...), and entity types are coarse (ADDRESS, LOCATION, PERSON...). Its
held-out half is only 46 texts, so one name is 3.3 points. This script draws as many new
texts of the same kind as you like, with a seed nobody used, for diagnosis (read it
freely, then move on to a new seed) or for measurement (score it, never read it).
``make_fresh_pii_set.py`` does the same for the v2 (en_US Faker) style.

How to run (in a throw-away virtualenv, NOT the project's .venv)
----------------------------------------------------------------
Set up the virtualenv of ``make_fresh_pii_set.py`` (presidio-evaluator 0.3.2, Faker,
pandas), then unpack the 0.1.0 wheel next to it::

    /tmp/x/bin/pip download presidio-evaluator==0.1.0 --no-deps -d /tmp/pe01
    unzip -q /tmp/pe01/presidio_evaluator-0.1.0-py3-none-any.whl -d /tmp/pe01/t
    /tmp/x/bin/python benchmarks/make_fresh_small_pii_set.py --evaluator /tmp/pe01/t \\
        --seed 20261303 --n 3000 --out /tmp/small_style.json

The 0.1.0 wheel lacks ``us_driver_license_format.yaml``, which its driver-licence
provider reads; the copy shipped by the installed 0.3.2 is used. Generator type names
map to the small set's entity types (``name``/``first_name``... -> PERSON;
``building_number``, ``street_name``, ``secondary_address``, ``postcode`` -> ADDRESS;
``city``, ``country``, ``nationality`` -> LOCATION; ...). No network access is made.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

PERSON = ("person name name_female name_male first_name last_name first_name_female "
          "first_name_male last_name_female last_name_male first_name_nonbinary "
          "last_name_nonbinary").split()
ADDRESS = "building_number street_name secondary_address postcode zipcode street_address address"
LOCATION = ("city country state nationality nation_man nation_woman nation_plural "
            "country_code state_abbr")
TYPES = {**dict.fromkeys(PERSON, "PERSON"), **dict.fromkeys(ADDRESS.split(), "ADDRESS"),
         **dict.fromkeys(LOCATION.split(), "LOCATION"),
         **dict.fromkeys(("organization", "company"), "ORGANIZATION"),
         **dict.fromkeys(("prefix", "prefix_female", "prefix_male", "job"), "TITLE"),
         "credit_card_number": "CREDIT_CARD", "credit_card": "CREDIT_CARD", "ssn": "US_SSN",
         "phone_number": "PHONE_NUMBER", "email": "EMAIL_ADDRESS",
         "ip_address": "IP_ADDRESS", "domain_name": "DOMAIN_NAME", "url": "DOMAIN_NAME",
         "iban": "IBAN_CODE", "driver_license": "US_DRIVER_LICENSE",
         "us_driver_license": "US_DRIVER_LICENSE", "date_of_birth": "DATE_OF_BIRTH",
         "birthday": "DATE_OF_BIRTH", "date_time": "DATE_TIME", "year": "DATE_TIME",
         "day_of_week": "DATE_TIME", "age": "AGE"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evaluator", type=Path, required=True,
                    help="directory holding the unpacked presidio-evaluator 0.1.0 wheel")
    ap.add_argument("--seed", type=int, default=20261303)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import pandas as pd
    import presidio_evaluator  # the installed 0.3.2, for its driver-licence formats

    raw = args.evaluator / "presidio_evaluator" / "data_generator" / "raw_data"
    yaml = raw / "us_driver_license_format.yaml"
    if not yaml.exists():
        shutil.copy(Path(presidio_evaluator.__file__).parent / "data_generator" / "raw_data"
                    / yaml.name, yaml)
    for name in [m for m in sys.modules if m.startswith("presidio_evaluator")]:
        del sys.modules[name]
    sys.path.insert(0, str(args.evaluator))
    from presidio_evaluator.data_generator import presidio_data_generator as gen
    from presidio_evaluator.data_generator.faker_extensions import (
        AddressProviderNew,
        AgeProvider,
        IpAddressProvider,
        NationalityProvider,
        OrganizationProvider,
        PhoneNumberProviderNew,
        RecordsFaker,
        UsDriverLicenseProvider,
    )

    generator_cls = gen.PresidioDataGenerator
    generator_cls.seed(args.seed)
    records = generator_cls.update_fake_name_generator_df(
        pd.read_csv(raw / "FakeNameGenerator.com_3000.csv"))
    faker = RecordsFaker(records=records, local="en_US")
    for provider in (IpAddressProvider, NationalityProvider, OrganizationProvider,
                     UsDriverLicenseProvider, AgeProvider, AddressProviderNew,
                     PhoneNumberProviderNew):
        faker.add_provider(provider)
    generator = generator_cls(custom_faker=faker, lower_case_ratio=0.05)
    for name, alias in (("name", "person"), ("credit_card_number", "credit_card"),
                        ("date_of_birth", "birthday"), ("driver_license", "us_driver_license")):
        generator.add_provider_alias(name, alias)
    templates = generator_cls.read_template_file(raw / "templates.txt")
    out = []
    for sample in generator.generate_fake_data(templates=templates, n_samples=args.n):
        spans = []
        for s in sample.spans:
            if sample.fake[s.start:s.end] != str(s.value):
                raise SystemExit(f"span does not match its text: {s}")
            spans.append({"entity_type": TYPES.get(s.type, s.type.upper()),
                          "entity_value": str(s.value), "start_position": s.start,
                          "end_position": s.end})
        out.append({"full_text": sample.fake, "masked": None, "spans": spans,
                    "template_id": sample.template_id, "metadata": None})
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {len(out)} texts to {args.out}")


if __name__ == "__main__":
    main()

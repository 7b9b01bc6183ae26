"""New traffic for iterate's scenario: later logs of the sample application (the same
generator with another seed, so new conversations and new content) and a task the
application did not have before, in the OpenAI proxy log format."""

from __future__ import annotations

import csv
import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def later_logs(out_dir: Path, tmp: Path, *, seed: int, take: dict[str, int]) -> list[Path]:
    """Generate the sample logs with ``seed`` into ``tmp`` and write the first
    ``take[task]`` calls of each named task to ``out_dir``, one file per source log (the
    format is detected per file), as plain JSONL."""
    subprocess.run([sys.executable, str(ROOT / "sample_logs" / "generate.py"), "--seed",
                    str(seed), "--out", str(tmp)], check=True, capture_output=True)
    wanted: dict[str, set[int]] = {}
    counts = dict.fromkeys(take, 0)
    with open(tmp / "labels.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            task = row["task"]
            if task in take and counts[task] < take[task]:
                wanted.setdefault(row["file"], set()).add(int(row["line"]))
                counts[task] += 1
    assert counts == take, counts
    out = []
    for name, lines in sorted(wanted.items()):
        opener = gzip.open if name.endswith(".gz") else open
        dest = out_dir / (name.removesuffix(".gz").removesuffix(".jsonl") + ".jsonl")
        with opener(tmp / name, "rt", encoding="utf-8") as src, \
                open(dest, "w", encoding="utf-8") as dst:
            for i, line in enumerate(src, 1):
                if i in lines:
                    dst.write(line)
        out.append(dest)
    return out


_CITIES = [("Frankfurt", 1), ("Lisbon", 0), ("Chicago", -6), ("Tokyo", 9), ("Denver", -7),
           ("Helsinki", 2), ("Sydney", 10), ("Toronto", -5), ("Dubai", 4), ("Madrid", 1),
           ("Seoul", 9), ("Boston", -5), ("Athens", 2), ("Lima", -5), ("Oslo", 1)]
_CARRIERS = ["LH", "TP", "UA", "NH", "AY", "QF", "AC", "EK", "IB", "KE", "DL", "A3"]
_ASKS = ["Flight {f} leaves {city} at {t} local time on {d} (UTC{o:+d}).",
         "Departure: {f}, {city}, {d}, {t} local (UTC offset {o:+d} h).",
         "Normalise: {f} departs {city} {d} at {t}, local clock, UTC{o:+d}.",
         "{f} / {city} / {d} / {t} local / offset {o:+d}"]
_SYSTEM = ["You normalise departure times for the TripMate timetable importer.",
           "You are the timetable importer's time normaliser."]
_RULE = ["Convert the local departure time to UTC and answer with the ISO 8601 timestamp "
         "only, for example 2026-05-03T12:05:00Z.",
         "Answer with the UTC departure time as an ISO 8601 timestamp ending in Z, nothing "
         "else."]


def new_task_log(out: Path, *, n: int, seed: int) -> Path:
    """``n`` calls of a task the sample application never had: converting a flight's
    local departure time to a UTC timestamp (one label-like answer per call)."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        city, offset = rng.choice(_CITIES)
        day, hour, minute = rng.randint(1, 28), rng.randint(4, 22), rng.choice(range(0, 60, 5))
        flight = f"{rng.choice(_CARRIERS)} {rng.randint(100, 9999)}"
        utc_hour = hour - offset
        utc_day = day + (utc_hour // 24)
        utc_hour %= 24
        ask = rng.choice(_ASKS).format(f=flight, city=city, t=f"{hour:02d}:{minute:02d}",
                                       d=f"2026-05-{day:02d}", o=offset)
        answer = f"2026-05-{utc_day:02d}T{utc_hour:02d}:{minute:02d}:00Z"
        session = f"sess_tz{seed:03d}{i:05d}"
        lines.append(json.dumps({
            "request": {"model": "gpt-4o-mini-2024-07-18", "temperature": 0.0, "messages": [
                {"role": "system", "content": f"{rng.choice(_SYSTEM)} {rng.choice(_RULE)}"},
                {"role": "user", "content": ask}]},
            "response": {"id": f"chatcmpl-tz{seed}{i}", "object": "chat.completion",
                         "created": 1780000000 + 60 * i, "model": "gpt-4o-mini-2024-07-18",
                         "choices": [{"index": 0, "finish_reason": "stop", "message": {
                             "role": "assistant", "content": answer}}],
                         "usage": {"prompt_tokens": 70, "completion_tokens": 12,
                                   "total_tokens": 82}},
            "metadata": {"request_id": f"req_tz{seed}{i}", "session_id": session,
                         "latency_ms": 400 + rng.randint(0, 300),
                         "timestamp": f"2026-05-{1 + i % 28:02d}T10:{i % 60:02d}:00.000Z",
                         "tags": ["timetable", "internal"]}}))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out

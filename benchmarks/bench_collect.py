"""Collect: throughput and peak memory as the input grows, against the raw libraries.

    .venv/bin/python benchmarks/bench_collect.py [--sizes-mb 100,1000] [--keep]

For each size it writes a synthetic OpenAI chat proxy log (multi-turn agent calls with
tool calls, ~3.5 KB per line), then measures, each in a fresh process:
  - slmconvert collect (stream, validate, dedup, link conversations, write Parquet);
  - raw stdlib: json.loads on every line (the parsing floor, no output);
  - raw pyarrow: pyarrow.json.read_json of the whole file (what loading it at once costs).
It prints wall time, MB/s and peak RSS, and the ratios against the raw baselines.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CITIES = ["Paris", "Rome", "Oslo", "Lisbon", "Tokyo", "Lima", "Cairo", "Austin", "Seoul"]


def write_log(path: Path, target_bytes: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    system = ("You are TripMate's booking agent. Use the tools to search flights and book "
              "hotels. " * 6)
    tools = [{"type": "function", "function": {"name": n, "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "date": {
            "type": "string"}}}}} for n in ("search_flights", "book_hotel", "get_booking")]
    n = 0
    size = 0
    with open(path, "w", encoding="utf-8") as fh:
        while size < target_bytes:
            conv = f"s{n}"
            history = [{"role": "system", "content": system}]
            for turn in range(rng.randint(1, 4)):
                city = rng.choice(CITIES)
                history.append({"role": "user", "content": f"Turn {turn}: find me a flight to "
                                f"{city} on day {rng.randint(1, 28)} for {n} " + "x" * 600})
                call = {"id": f"c{n}-{turn}", "type": "function", "function": {
                    "name": rng.choice(["search_flights", "book_hotel"]),
                    "arguments": json.dumps({"city": city, "date": f"2026-05-{turn + 1:02d}"})}}
                line = {"request": {"model": "gpt-4o-mini", "messages": history, "tools": tools},
                        "response": {"choices": [{"finish_reason": "tool_calls", "message": {
                            "role": "assistant", "content": None, "tool_calls": [call]}}],
                            "usage": {"prompt_tokens": 900, "completion_tokens": 30}},
                        "metadata": {"session_id": conv, "latency_ms": rng.randint(200, 3000)}}
                text = json.dumps(line) + "\n"
                fh.write(text)
                size += len(text)
                n += 1
                history = history + [{"role": "assistant", "content": None,
                                      "tool_calls": [call]},
                                     {"role": "tool", "tool_call_id": call["id"],
                                      "content": '{"ok": true}'}]
                history = history[:1] + history[-6:]  # keep lines ~3.5 KB
    return n


RUNNERS = {
    "slmconvert": ("from pathlib import Path; from slmconvert.pipeline.stage import StageContext;"
                   "from slmconvert.stages.collect import CollectStage, CollectConfig;"
                   "import sys; ws = Path(sys.argv[2]);"
                   "ctx = StageContext(workspace=ws, stage_dir=ws / 'collect');"
                   "(ws / 'collect').mkdir(parents=True);"
                   "r = CollectStage().run(ctx, CollectConfig(inputs=[sys.argv[1]]));"
                   "print(r.counts['imported'])"),
    "raw json.loads": ("import json, sys; n = 0\n"
                       "for line in open(sys.argv[1], encoding='utf-8'):\n"
                       "    json.loads(line); n += 1\n"
                       "print(n)"),
    "raw pyarrow.json": ("import sys, pyarrow.json as pj;"
                         "t = pj.read_json(sys.argv[1]); print(t.num_rows)"),
}


def measure(name: str, log: Path, ws: Path) -> tuple[float, float, str]:
    code = ("import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "out = subprocess.run([sys.executable, '-c', sys.argv[1], sys.argv[2], sys.argv[3]],"
            " capture_output=True, text=True)\n"
            "dt = time.perf_counter() - t\n"
            "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
            "print(dt, rss, out.returncode, out.stdout.strip() or out.stderr[-300:])\n")
    res = subprocess.run([sys.executable, "-c", code, RUNNERS[name], str(log), str(ws)],
                         capture_output=True, text=True, check=True)
    dt, rss, rc, out = res.stdout.split(" ", 3)
    return float(dt), float(rss), out.strip() if rc == "0" else f"failed: {out.strip()}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes-mb", default="100,1000")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-collect-"))
    rows = []
    try:
        for mb in [int(x) for x in args.sizes_mb.split(",")]:
            log = tmp / f"log_{mb}mb.jsonl"
            t = time.perf_counter()
            n = write_log(log, mb * 1024 * 1024)
            print(f"# {mb} MB: {n} calls generated in {time.perf_counter() - t:.0f}s",
                  flush=True)
            base = {}
            for name in RUNNERS:
                ws = tmp / f"ws_{mb}_{name.replace(' ', '_')}"
                dt, rss, out = measure(name, log, ws)
                base[name] = (dt, rss)
                rows.append((mb, name, dt, mb / dt, rss, out))
                print(f"{mb:>6} MB  {name:<17} {dt:8.1f} s  {mb / dt:7.1f} MB/s  "
                      f"peak RSS {rss:8.0f} MB  -> {out}", flush=True)
                shutil.rmtree(ws, ignore_errors=True)
            s_dt, s_rss = base["slmconvert"]
            print(f"{mb:>6} MB  ratios: time vs json.loads x{s_dt / base['raw json.loads'][0]:.1f},"
                  f" peak RSS vs pyarrow.json.read_json x{s_rss / base['raw pyarrow.json'][1]:.2f}",
                  flush=True)
            log.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

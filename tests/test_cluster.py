"""S3 cluster: features, splits, labels, the fit, the stage and `cluster assign`."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from slmconvert.cli import app
from slmconvert.clustering.embed import Embedder
from slmconvert.clustering.features import (
    call_features,
    hash_block,
    mask,
    response_kind,
    skeleton,
)
from slmconvert.clustering.model import Assigner, _choose_k, fit_clusters, key_codes
from slmconvert.core.parquet import RecordWriter, iter_records
from slmconvert.core.records import CallRecord, Message, ToolCall
from slmconvert.pipeline.stage import StageContext
from slmconvert.stages.cluster import (
    ClusterConfig,
    ClusterStage,
    SplitConfig,
    ctfidf_terms,
    split_clusters,
)

REPO = Path(__file__).resolve().parent.parent

# ------------------------------------------------------------------ features ----


@pytest.mark.parametrize(("text", "masked"), [
    ("Order 12345 for <PERSON_2> on 2024-05-01 at 10:30", "Order <NUM> for <PERSON> on <DATE> at "
                                                           "<TIME>"),
    ("see https://x.example/a?b=1 or mail a.b@example.com", "see <URL> or mail <EMAIL>"),
    ("trace 3f9a2b7c1d4e5f60 done", "trace <ID> done"),
    ("version  v2.13.0", "version v<NUM>"),
])
def test_mask_removes_variable_spans(text: str, masked: str) -> None:
    assert mask(text) == masked


def test_skeleton_keeps_first_line_and_headings() -> None:
    text = "You are agent 7.\nSome body text here.\n## Context\nfilled in\nOutput format:\nx"
    assert skeleton(text) == ["You are agent <NUM>.", "## Context", "Output format:"]


def call(system: str, user: str, response: Message, *, conv: str | None = None,
         agent: str | None = None, step: str | None = None, tools: list[str] = (),  # type: ignore[assignment]
         source: str = "t:1") -> CallRecord:
    return CallRecord(
        source=source, conversation_id=conv, agent=agent, step=step,
        messages=[Message(role="system", content=system), Message(role="user", content=user)],
        tools=[{"type": "function", "function": {"name": t, "parameters": {
            "type": "object", "properties": {"to": {}, "date": {}}, "required": ["to"]}}}
               for t in tools],
        response=response).with_id()


def test_call_features_fold_counters_and_see_the_response() -> None:
    rec = call("Book things.", "Fly me to Oslo", Message(role="assistant", tool_calls=[
        ToolCall(name="search_flights", arguments={"to": "Oslo"})]),
        agent="Booking-Agent", step="agent_turn_3", tools=["search_flights", "book_hotel"])
    f = call_features(rec)
    assert f.identity == ["agent=booking-agent", "step=agent_turn_#"]
    assert "toolset=book_hotel|search_flights" in f.tools
    assert "sig=search_flights(to;date)" in f.tools
    assert f.response_kind == ["kind=tool_call"] and f.response == ["called=search_flights"]
    assert f.last_turn == "Fly me to Oslo"
    assert response_kind(call("s", "u", Message(role="assistant",
                                                content='```json\n{"a": 1}\n```'))) == "json"
    assert response_kind(call("s", "u", Message(role="assistant", content="Fine."))) == "text"


def test_hash_block_is_stable_and_unit_length() -> None:
    a, b = hash_block(["x", "y"], 64), hash_block(["x", "y"], 64)
    assert np.array_equal(a, b) and abs(float(np.linalg.norm(a)) - 1) < 1e-6
    assert not hash_block([], 64).any()


# -------------------------------------------------------------------- splits ----

def test_splits_keep_conversations_whole_and_meet_min_test() -> None:
    rng = random.Random(0)
    convs = [f"conv{rng.randrange(60)}" for _ in range(400)]
    labels = np.array([rng.randrange(3) for _ in convs])
    cfg = SplitConfig(test_fraction=0.2, val_fraction=0.1, min_test=10)
    sides = split_clusters(convs, labels, 3, cfg, seed=1)
    for c in range(3):
        per_conv: dict[str, set[str]] = {}
        for conv, lab, side in zip(convs, labels, sides, strict=True):
            if lab == c:
                per_conv.setdefault(conv, set()).add(side)
        assert all(len(s) == 1 for s in per_conv.values()), "a conversation was split"
        n = int((labels == c).sum())
        got = Counter(s for s, lab in zip(sides, labels, strict=True) if lab == c)
        assert got["test"] >= max(10, round(0.2 * n)) and got["val"] >= round(0.1 * n)
        assert got["train"] > 0
    assert split_clusters(convs, labels, 3, cfg, seed=1) == sides
    assert split_clusters(convs, labels, 3, cfg, seed=2) != sides


def test_ctfidf_picks_distinctive_terms() -> None:
    terms = ctfidf_terms([["refund the invoice please", "refund my invoice", "booking help"],
                          ["flight to paris", "flight to rome booking", "cheap flight"]], top=2)
    assert terms[0][0] in {"refund", "invoice"} and terms[1][0] == "flight"
    assert "booking" not in terms[0][:2] + terms[1][:2]


# ----------------------------------------------------------------------- fit ----

def blobs(seed: int = 0, k: int = 4, per: int = 50) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, 16)) * 5
    y = np.repeat(np.arange(k), per)
    return (centers[y] + rng.normal(size=(k * per, 16))).astype(np.float32), y


def test_fit_finds_k_and_is_deterministic() -> None:
    from sklearn.metrics import adjusted_rand_score

    x, y = blobs()
    a = fit_clusters(x, k=None, k_min=2, k_max=10, seed=0)
    b = fit_clusters(x, k=None, k_min=2, k_max=10, seed=0)
    assert a.k == 4 and adjusted_rand_score(y, a.labels) == 1.0
    assert np.array_equal(a.labels, b.labels) and a.scores == b.scores
    assert fit_clusters(x, k=6, k_min=2, k_max=10, seed=0).k == 6
    sizes = np.bincount(fit_clusters(x[:170], k=None, k_min=2, k_max=10, seed=0).labels)
    assert list(sizes) == sorted(sizes, reverse=True)  # numbered by size


def test_key_codes_ignore_rare_combinations() -> None:
    names = ["a"] * 5 + ["b"] * 5 + [""] * 4 + ["c"]
    kinds = ["json"] * 4 + ["text"] + ["text"] * 5 + ["json", "json", "text", "text", "json"]
    keys = key_codes([names, kinds], min_calls=2)
    # ("a", "text") and ("c", "json") are seen once: unknown in every attribute
    assert keys[4].tolist() == [-1, -1] and keys[14].tolist() == [-1, -1]
    assert keys[0].tolist() == [0, 0] and keys[5].tolist() == [1, 1]  # a/json, b/text
    assert keys[10].tolist() == [-1, 0] and keys[12].tolist() == [-1, 1]  # no name
    assert key_codes([], min_calls=2).shape == (0, 0)


def test_keys_tell_apart_calls_that_features_cannot() -> None:
    """Two tasks that overlap in feature space (the hard pair of an agent loop: same
    prompt, same tools) are split when a key (a response kind, a name) differs; calls
    whose key is unknown follow their content."""
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(3)
    shift = np.zeros(8)
    shift[0] = 1.5
    x = np.concatenate([rng.normal(0, 1, (60, 8)), rng.normal(0, 1, (60, 8)) + shift,
                        rng.normal(0, 1, (60, 8)) + 12])
    truth = np.array([0] * 60 + [1] * 60 + [2] * 60)
    alone = fit_clusters(x, k=None, k_min=2, k_max=10, seed=0)
    assert alone.k == 2 and adjusted_rand_score(truth, alone.labels) < 0.6
    keys = np.array([[0]] * 60 + [[1]] * 60 + [[-1]] * 60)
    for k in (3, None):
        fit = fit_clusters(x, k=k, k_min=2, k_max=10, seed=0, keys=keys)
        assert fit.floor == 2 and fit.k >= 3
        assert not set(fit.labels[:60]) & set(fit.labels[60:120])  # never together
        assert not set(fit.labels[:120]) & set(fit.labels[120:])
    assert adjusted_rand_score(truth, fit_clusters(x, k=3, k_min=2, k_max=10, seed=0,
                                                   keys=keys).labels) == 1.0
    # A key shared by two far-apart groups does not glue them.
    same = np.array([[0]] * 180)
    assert fit_clusters(x, k=None, k_min=2, k_max=10, seed=0, keys=same).k == 2
    # Keys win over k_max: five named groups are five clusters even when k_max is 3.
    five = np.array([[i % 5, -1] for i in range(180)])
    fit = fit_clusters(x, k=None, k_min=2, k_max=3, seed=0, keys=five)
    assert fit.floor == fit.k == 5
    assert all(len(set(five[fit.labels == c, 0])) == 1 for c in range(fit.k))


def test_k_choice_merges_splits_their_calls_do_not_need() -> None:
    """The best-scoring cut splits one group into two tight halves 5 apart; the other
    group is 100 away. Keeping the halves apart helps their own calls very little, so
    they are merged back; with tolerance 0 the best cut stands."""
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(-2.5, 0.01, (30, 2)), rng.normal(2.5, 0.01, (30, 2)),
                        rng.normal(100, 0.01, (30, 2))])
    cuts = {2: np.repeat([0, 0, 1], 30), 3: np.repeat([0, 1, 2], 30)}
    rows = np.arange(90)

    def choose(tolerance: float) -> tuple[int, dict[int, float], list[dict[str, Any]]]:
        from slmconvert.core.progress import NullReporter

        return _choose_k(z, rows, lambda kk: cuts[kk], k_min=2, k_max=3, tolerance=tolerance,
                         sample=1000, seed=0, reporter=NullReporter())

    k, scores, merged = choose(0.05)
    assert max(scores, key=scores.__getitem__) == 3 and k == 2
    assert merged == [{"k": 2, "calls": 60, "gain": merged[0]["gain"]}]
    assert 0 < merged[0]["gain"] < 0.05
    assert choose(0.0)[0] == 3


# ---------------------------------------------------------------- the stage ----

NAMES = ["Ana", "Bo", "Chen", "Dara", "Eli", "Femi", "Gus", "Hana", "Ines", "Jon", "Kai",
         "Lea", "Milo", "Nia", "Omar", "Pia"]
CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Doha", "Cork", "Riga", "Baku", "Nice", "Bern",
          "Graz", "Faro", "Split", "Turku", "Lyon", "Porto"]
OPENERS = ["", "Hi, ", "Hello team, ", "Quick one: ", "Good morning. ", "Sorry to bother you, "]


def synthetic_calls(n_per: int = 40, seed: int = 0) -> list[CallRecord]:
    """Three tasks with no agent names, each with two wordings of its instructions and
    varied requests: the text, tools and responses must tell them apart."""
    rng = random.Random(seed)
    out: list[CallRecord] = []
    for i in range(n_per):
        conv = f"s{i // 2}"
        name, city = rng.choice(NAMES), rng.choice(CITIES)
        n, day = rng.randrange(2, 9), rng.randrange(1, 28)
        out.append(call(
            rng.choice(["Extract the sender, date and destination from the email. Answer "
                        "with JSON only.", "Read the customer's email and return its sender, "
                        "travel date and destination as a JSON object."]),
            rng.choice(OPENERS) + rng.choice([
                f"I want to travel to {city} on day {day}. {name}",
                f"Please book me to {city}, leaving on the {day}th. Regards, {name}",
                f"{name} here: trip to {city}, day {day}, can you note it?",
                f"Travelling to {city} soon (day {day}). Sender: {name}"]),
            Message(role="assistant", content=json.dumps({"sender": name, "city": city})),
            conv=f"x{conv}", source=f"x:{i}"))
        out.append(call(
            rng.choice(["Classify the support ticket as billing, refund, bug or other. One word.",
                        "Route this ticket: answer billing, refund, bug or other."]),
            rng.choice(OPENERS) + rng.choice([
                f"my card was charged {n} times, please help",
                f"I want my money back for order {n}, {name}",
                f"the app crashes when I pay. {name}",
                f"why is there a fee of {n} dollars on my bill?"]),
            Message(role="assistant", content=rng.choice(["billing", "refund", "bug", "other"])),
            conv=f"c{conv}", source=f"c:{i}"))
        tool = rng.choice(["search_flights", "book_hotel"])
        out.append(call(
            "You are a travel booking agent. Use the tools to help the user.",
            rng.choice(OPENERS) + rng.choice([
                f"Find me a flight to {city} for {n} people next week",
                f"any hotels in {city} for {n} nights?",
                f"book {city} for {n} adults, {name}",
                f"I need to get to {city} by day {day}"]),
            Message(role="assistant", tool_calls=[ToolCall(name=tool,
                                                           arguments={"destination": city})]),
            tools=["search_flights", "book_hotel"], conv=f"t{conv}", source=f"t:{i}"))
    return out


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.load("minilm-l6-v2", max_tokens=128)


def run_cluster(ws: Path, records: list[CallRecord], embedder: Embedder, **cfg: Any
                ) -> tuple[Any, Path]:
    (ws / "curate").mkdir(parents=True, exist_ok=True)
    with RecordWriter(ws / "curate/calls.parquet") as w:
        w.write_all(records)
    out = ws / "cluster"
    out.mkdir(exist_ok=True)
    ctx = StageContext(workspace=ws, stage_dir=out, base_dir=ws)
    import slmconvert.stages.cluster as stage_mod

    original = stage_mod.Embedder.load
    stage_mod.Embedder.load = classmethod(lambda cls, *a, **k: embedder)  # type: ignore[method-assign,assignment]
    try:
        return ClusterStage().run(ctx, ClusterConfig(**cfg)), out
    finally:
        stage_mod.Embedder.load = original  # type: ignore[method-assign]


def test_stage_recovers_tasks_splits_and_assigns(tmp_path: Path, embedder: Embedder) -> None:
    records = synthetic_calls()
    result, out = run_cluster(tmp_path / "ws", records, embedder)
    meta = json.loads((out / "clusters.json").read_text())
    assert result.counts["clusters"] == meta["k"] == 3
    rows = pq.read_table(out / "assignments.parquet").to_pylist()
    by_id = {r["id"]: r for r in rows}
    truth = {r.id: r.source[0] for r in records}
    pairs = Counter((truth[i], r["cluster"]) for i, r in by_id.items())
    assert len(pairs) == 3, f"tasks and clusters do not match one to one: {pairs}"
    c = result.counts
    assert c["calls"] == 120 == c["train"] + c["val"] + c["test"]
    for cl in meta["clusters"]:
        assert cl["calls"] == 40 and len(cl["representatives"]) == 3
        assert cl["evaluable"] and sum(cl["split"].values()) == 40
        for side in ("train", "val", "test"):
            split = list(iter_records(out / "splits" / cl["id"] / f"{side}.parquet"))
            assert len(split) == cl["split"][side]
            assert all(by_id[r.id]["cluster"] == cl["id"] for r in split)
    tool_cluster = next(cl for cl in meta["clusters"] if cl["tools"])
    assert sorted(tool_cluster["tools"]) == ["book_hotel", "search_flights"]
    assert tool_cluster["response_kinds"] == {"tool_call": 1.0}
    assert (out / "map.png").read_bytes()[:4] == b"\x89PNG"
    # Same input and seed: identical clusters and splits.
    again, out2 = run_cluster(tmp_path / "ws2", records, embedder)
    assert pq.read_table(out2 / "assignments.parquet").to_pylist() == rows
    # Request-only assignment puts held-out calls back in their own cluster.
    assigner = Assigner.load(out, embedder=embedder)
    test_calls = [r for r in records if by_id[r.id]["split"] == "test"]
    got = assigner.assign([r.model_copy(update={"response": None}) for r in test_calls])
    assert [a.cluster for a in got] == [by_id[r.id]["cluster"] for r in test_calls]
    odd = call("Write a sonnet about the sea.", "Make it rhyme, in French.",
               Message(role="assistant", content="..."))
    assert assigner.assign([odd])[0].cluster is None  # a new task stays with the LLM


def test_stage_reports_how_clearly_k_was_chosen(tmp_path: Path, embedder: Embedder) -> None:
    result, out = run_cluster(tmp_path / "ws", synthetic_calls(), embedder)
    meta = json.loads((out / "clusters.json").read_text())
    margin = meta["silhouette_margin"]
    scores = {int(k): v for k, v in meta["silhouette"].items()}
    assert margin["best"] == max(scores.values()) == scores[margin["best_k"]]
    assert margin["runner_up"] == sorted(scores.values())[-2]
    assert margin["best_minus_runner_up"] == round(margin["best"] - margin["runner_up"], 4) >= 0
    assert margin["chosen_k"] == meta["k"] and margin["chosen_minus_best"] <= 0
    assert result.summary["silhouette_margin"] == margin
    assert meta["features"]["use_names"] is True and meta["features"]["named_calls"] == 0


def agent_loop_calls(n: int = 40, seed: int = 0) -> list[CallRecord]:
    """Two tasks of one agent: same system prompt, same tools, no names. One answers the
    user with a tool call; the other is the app asking for a JSON case note."""
    rng = random.Random(seed)
    system = ("You are the concierge agent of a ferry company. Answer with the tools; be "
              "brief. Today is 2026-05-01.")
    tools = ["find_sailing", "reserve_cabin"]
    out: list[CallRecord] = []
    for i in range(n):
        city, n_ = rng.choice(CITIES), rng.randrange(1, 5)
        tool = rng.choice(tools)
        out.append(call(system, rng.choice(OPENERS) + rng.choice([
            f"Is there a crossing to {city} for {n_} of us?", f"cabin for {n_} to {city} please",
            f"when does the next boat to {city} leave?", f"{n_} adults and a car to {city}"]),
            Message(role="assistant", tool_calls=[ToolCall(name=tool, arguments={"to": city})]),
            tools=tools, conv=f"l{i}", source=f"l:{i}"))
        out.append(call(system, rng.choice([
            "[internal] Write the case note as JSON.", "CRM sync: log this session as JSON.",
            "Internal step: JSON case record, no tools.", "Back office: case summary in JSON."]),
            Message(role="assistant", content=json.dumps(
                {"intent": rng.choice(["sailing", "cabin"]), "outcome": f"quoted {city}"})),
            tools=tools, conv=f"l{i}", source=f"n:{i}"))
    return out


def test_tasks_that_share_prompt_and_tools_are_told_apart(tmp_path: Path, embedder: Embedder
                                                          ) -> None:
    records = agent_loop_calls() + synthetic_calls()
    _, out = run_cluster(tmp_path / "ws", records, embedder)
    rows = {r["id"]: r["cluster"] for r in pq.read_table(out / "assignments.parquet")
            .to_pylist()}
    pairs = Counter((r.source[0], rows[r.id]) for r in records)
    assert len(pairs) == 5 == len({c for _, c in pairs}), pairs  # l, n, x, c, t


def test_use_names_switch(tmp_path: Path, embedder: Embedder) -> None:
    """Two agents doing the same thing with the same prompt, some calls unnamed: names
    keep the agents apart, and use_names: false clusters on content alone."""
    agents = ("inbox-a", "inbox-b", None)
    extraction = [r for seed in (0, 5) for r in synthetic_calls(seed=seed) if r.source[0] == "x"]
    named_x = [r.model_copy(update={"agent": agents[j % 3], "source": f"x:{j}"}).with_id()
               for j, r in enumerate(extraction)]
    records = named_x + [r for r in synthetic_calls() if r.source[0] != "x"]
    cfg: dict[str, Any] = {"selection": {"min_key_calls": 10}}
    named, out_named = run_cluster(tmp_path / "named", records, embedder, **cfg)
    unnamed, out_unnamed = run_cluster(tmp_path / "unnamed", records, embedder, **cfg,
                                       features={"use_names": False})

    def clusters_of(out: Path, agent: str | None, task: str = "x") -> set[str]:
        rows = {r["id"]: r["cluster"] for r in pq.read_table(out / "assignments.parquet")
                .to_pylist()}
        return {rows[r.id] for r in records if r.agent == agent and r.source[0] == task}

    assert named.summary["k_floor"] == 4 and named.counts["clusters"] >= 4
    assert not clusters_of(out_named, "inbox-a") & clusters_of(out_named, "inbox-b")
    assert unnamed.summary["k_floor"] == 3 and unnamed.counts["clusters"] == 3
    assert len(clusters_of(out_unnamed, "inbox-a") | clusters_of(out_unnamed, "inbox-b")
               | clusters_of(out_unnamed, None)) == 1


def test_small_cluster_is_marked_and_kept_with_the_llm(tmp_path: Path, embedder: Embedder
                                                       ) -> None:
    records = synthetic_calls(n_per=40)[:-3 * 34]  # 6 calls per task
    result, out = run_cluster(tmp_path / "ws", records + synthetic_calls(40, seed=1)[:90:3],
                              embedder, selection={"k": 2})
    meta = json.loads((out / "clusters.json").read_text())
    small = [c for c in meta["clusters"] if not c["evaluable"]]
    assert all(c["route"] == "llm" and "too small" in c["why_llm"] for c in small)


def test_assign_cli_reports_agreement(tmp_path: Path, embedder: Embedder) -> None:
    _, out = run_cluster(tmp_path / "ws", synthetic_calls(), embedder)
    first = sorted((out / "splits").iterdir())[0] / "test.parquet"
    res = CliRunner().invoke(app, ["--json", "cluster", "assign", str(first), "--workspace",
                                   str(tmp_path / "ws"), "--out", str(tmp_path / "a.jsonl")])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)["summary"]
    assert summary["known"] == summary["calls"] > 0 and summary["agreement"] == 1.0
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert len(lines) == summary["calls"] and json.loads(lines[0])["cluster"] == first.parent.name
    bad = CliRunner().invoke(app, ["cluster", "assign", str(tmp_path / "x.csv"), "--workspace",
                                   str(tmp_path / "ws")])
    assert bad.exit_code != 0 and "parquet" in bad.output


def test_cluster_needs_curate(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["cluster", "--workspace", str(tmp_path / "none")])
    assert res.exit_code != 0 and "curate" in res.output


# ------------------------------------------------------------- acceptance ----

def _task_of(labels: dict[tuple[str, str], str], source: str) -> str | None:
    path, line = source.split("#")[0].rsplit(":", 1)
    return labels.get((Path(path).name, line))


def _check_against_hidden_tasks(assignments: Path) -> float:
    """ARI of the clusters against labels.csv; every task has its own majority cluster."""
    from sklearn.metrics import adjusted_rand_score

    labels = {(r["file"], r["line"]): r["task"]
              for r in csv.DictReader((REPO / "sample_logs/labels.csv").open())}
    rows = pq.read_table(assignments).to_pylist()
    truth = [_task_of(labels, r["source"]) for r in rows]
    assert None not in truth
    ari = adjusted_rand_score(truth, [r["cluster"] for r in rows])
    majority = {t: Counter(r["cluster"] for r, tt in zip(rows, truth, strict=True) if tt == t)
                .most_common(1)[0][0] for t in set(truth)}
    assert len(set(majority.values())) == len(majority), f"tasks share a cluster: {majority}"
    assert {"tool_selection", "case_note"} <= set(truth)  # the pair that shares a prompt
    return float(ari)


@pytest.mark.slow
def test_sample_logs_clusters_match_the_hidden_tasks(demo_workspace: Path) -> None:
    """With agent and step names as logged (about half of the calls have none)."""
    meta = json.loads((demo_workspace / "cluster/clusters.json").read_text())
    assert 0.3 <= meta["features"]["named_calls"] / meta["calls"] <= 0.7
    ari = _check_against_hidden_tasks(demo_workspace / "cluster/assignments.parquet")
    assert ari >= 0.9, f"ARI {ari:.3f}"
    margin = meta["silhouette_margin"]
    assert margin["chosen_k"] == meta["k"] and margin["best_minus_runner_up"] >= 0
    # Held-out calls go back to their own cluster from the request alone.
    res = CliRunner().invoke(app, ["--json", "cluster", "assign", "--workspace",
                                   str(demo_workspace),
                                   *map(str, sorted((demo_workspace / "cluster/splits")
                                                    .glob("*/test.parquet")))])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)["summary"]
    assert summary["agreement"] >= 0.95, summary


@pytest.mark.slow
def test_sample_logs_clusters_without_names(demo_workspace: Path, tmp_path: Path,
                                            embedder: Embedder) -> None:
    """The same curated calls with agent, workflow and step names removed from every
    record: the clusters come from the content alone."""
    records = [r.model_copy(update={"agent": None, "workflow": None, "step": None})
               for r in iter_records(demo_workspace / "curate/calls.parquet")]
    result, out = run_cluster(tmp_path / "ws", records, embedder,
                              splits={"test_fraction": 0.2, "min_test": 10})
    meta = json.loads((out / "clusters.json").read_text())
    assert meta["features"]["named_calls"] == 0
    ari = _check_against_hidden_tasks(out / "assignments.parquet")
    assert ari >= 0.9, f"ARI {ari:.3f} without names"
    named = json.loads((demo_workspace / "cluster/clusters.json").read_text())
    assert result.counts["clusters"] == named["k"]

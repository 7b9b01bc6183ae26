"""Batched generation: answers in the order of the prompts, equal to one-at-a-time
generation, and each answer's confidence equal to a teacher-forced recomputation; on a
tiny random-weight model with SmolLM2's tokenizer."""

from __future__ import annotations

import time
from typing import Any

import pytest

from slmconvert.prompting.format import GENERATION_PREFIX, STOPS
from slmconvert.prompting.generate import Generation, Generator, answer_length

MAX_NEW = 16
QUESTIONS = [
    "Weather in Paris?",
    "Extract the city from 'Book me a flight to Oslo tomorrow' as JSON.",
    "hi",
    "Summarise: cats sleep a lot, dogs less, and parrots talk back when they are bored.",
    "Route this ticket: my invoice is wrong",
    "2+2?",
    "Translate 'good morning' to French, please, and explain the word order.",
]
PROMPTS = [f"<|im_start|>user\n{q}<|im_end|>\n{GENERATION_PREFIX}" for q in QUESTIONS]


@pytest.fixture(scope="module")
def tok() -> Any:
    from transformers import AutoTokenizer

    from slmconvert.core.models import prepare

    return AutoTokenizer.from_pretrained(prepare("smollm2-135m").path)


@pytest.fixture(scope="module")
def model(tok: Any) -> Any:
    """Random weights, with the end marker's output row scaled so that some answers end
    after a few tokens and others run to ``MAX_NEW`` (checked by the tests)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=1024, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, tie_word_embeddings=False)
    torch.manual_seed(0)
    m = LlamaForCausalLM(cfg)
    with torch.no_grad():
        end = tok.convert_tokens_to_ids("<|im_end|>")
        m.lm_head.weight[end] = torch.randn(64, generator=torch.Generator().manual_seed(3)) \
            * 0.045
    return m.eval()


@pytest.fixture(scope="module")
def batched(model: Any, tok: Any) -> list[Generation]:
    return Generator(model, tok, batch_size=4, max_new_tokens=MAX_NEW).generate(PROMPTS)


@pytest.fixture(scope="module")
def single(model: Any, tok: Any) -> list[Generation]:
    return Generator(model, tok, batch_size=1, max_new_tokens=MAX_NEW).generate(PROMPTS)


def _generated_ids(model: Any, tok: Any, prompt: str) -> list[int]:
    """The greedy tokens for one prompt straight from ``model.generate`` (no padding)."""
    import torch

    enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        seq = model.generate(**enc, max_new_tokens=MAX_NEW, do_sample=False,
                             eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
                             pad_token_id=tok.pad_token_id)
    return seq[0, enc["input_ids"].shape[1]:].tolist()


def _teacher_forced(model: Any, tok: Any, prompt: str, answer: list[int]) -> list[float]:
    """Log-probability of each answer token from one forward pass over prompt + answer."""
    import torch

    p = tok.encode(prompt, add_special_tokens=False)
    with torch.inference_mode():
        logits = model(torch.tensor([p + answer])).logits[0].float()
    logp = torch.log_softmax(logits[len(p) - 1:-1], dim=-1)
    return logp.gather(1, torch.tensor(answer)[:, None]).squeeze(1).tolist()


def test_answers_mix_early_ends_and_the_token_limit(batched: list[Generation]) -> None:
    """The fixture's premise: both ways an answer can end are exercised."""
    ends = [g.new_tokens for g in batched]
    assert any(n < MAX_NEW for n in ends) and any(n == MAX_NEW for n in ends), ends
    assert len({len(p) for p in PROMPTS}) == len(PROMPTS)  # batches need left padding


def test_batched_equals_one_at_a_time_in_prompt_order(
        batched: list[Generation], single: list[Generation]) -> None:
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.new_tokens for g in batched] == [g.new_tokens for g in single]
    for b, s in zip(batched, single, strict=True):
        assert b.mean_logprob == pytest.approx(s.mean_logprob, abs=1e-4)
        assert b.min_logprob == pytest.approx(s.min_logprob, abs=1e-4)


def test_confidence_equals_teacher_forcing(model: Any, tok: Any,
                                           batched: list[Generation]) -> None:
    """Mean and minimum over the answer's tokens, the ending token included, padding
    after it excluded, from left-padded batches."""
    end = tok.convert_tokens_to_ids("<|im_end|>")
    for prompt, g in zip(PROMPTS, batched, strict=True):
        ids = _generated_ids(model, tok, prompt)
        answer = ids[:g.new_tokens]
        assert len(answer) == g.new_tokens
        if g.new_tokens < MAX_NEW:
            assert answer[-1] == end and end not in answer[:-1]
        else:
            assert end not in answer
        lp = _teacher_forced(model, tok, prompt, answer)
        assert g.mean_logprob is not None and g.min_logprob is not None
        assert g.min_logprob <= g.mean_logprob <= 0
        assert g.mean_logprob == pytest.approx(sum(lp) / len(lp), abs=1e-4)
        assert g.min_logprob == pytest.approx(min(lp), abs=1e-4)
        assert g.text == tok.decode(answer).split("<|im_end|>")[0]


def test_shuffled_prompts_keep_their_answers(model: Any, tok: Any,
                                             single: list[Generation]) -> None:
    order = [3, 0, 6, 2, 5, 1, 4]
    got = Generator(model, tok, batch_size=3, max_new_tokens=MAX_NEW).generate(
        [PROMPTS[i] for i in order])
    assert [g.text for g in got] == [single[i].text for i in order]
    assert [g.new_tokens for g in got] == [single[i].new_tokens for i in order]


def test_seconds_are_each_prompts_share_of_its_batch(model: Any, tok: Any) -> None:
    gen = Generator(model, tok, batch_size=3, max_new_tokens=MAX_NEW)
    sizes: list[int] = []
    t0 = time.perf_counter()
    outs = gen.generate(PROMPTS, on_batch=sizes.append)
    wall = time.perf_counter() - t0
    assert sizes == [3, 3, 1]
    # prompts sorted by token count: the three shortest make the first batch
    by_len = sorted(range(len(PROMPTS)), key=lambda i: len(tok.encode(PROMPTS[i])))
    batches = [by_len[:3], by_len[3:6], by_len[6:]]
    for b in batches:
        assert len({outs[i].seconds for i in b}) == 1 and outs[b[0]].seconds > 0
    assert sum(g.seconds for g in outs) <= wall


def test_confidence_off_gives_none_and_the_same_answers(
        model: Any, tok: Any, batched: list[Generation]) -> None:
    outs = Generator(model, tok, batch_size=4, max_new_tokens=MAX_NEW,
                     confidence=False).generate(PROMPTS)
    assert [g.text for g in outs] == [g.text for g in batched]
    assert all(g.mean_logprob is None and g.min_logprob is None for g in outs)


def test_no_prompts(model: Any, tok: Any) -> None:
    assert Generator(model, tok).generate([]) == []


# ------------------------------------------------------------ answer length ----


@pytest.mark.parametrize(("text", "split", "expect_text"), [
    ("Paris<|im_end|>", False, "Paris<|im_end|>"),
    ("Paris<|im_end|><|im_end|><|im_end|>", False, "Paris<|im_end|>"),  # padding after
    ("Paris<|im_start|>user", False, "Paris<|im_start|>"),
    ("Paris", False, "Paris"),  # the token limit
    ("Paris<|im_end|>", True, "Paris<|im_end|>"),  # a marker spelled as text
    ("Paris<|im_end|>\n<|im_start|>user\nmore", True, "Paris<|im_end|>"),
    ('{"a":1}<|im_end|>', True, '{"a":1}<|im_end|>'),
    ("Paris <|endoftext|>", True, "Paris <|endoftext|>"),
], ids=["end token", "end then padding", "start token", "no end", "text marker",
        "text marker then more", "json then text marker", "text eos"])
def test_answer_length(tok: Any, text: str, split: bool, expect_text: str) -> None:
    """The tokens up to and including what ended the answer, in both spellings."""
    gen_ids = tok.encode(text, add_special_tokens=False, split_special_tokens=split)
    end_ids = set() if split else {0, 1, 2}
    stops = list(STOPS) if split else []
    n = answer_length(tok, gen_ids, end_ids, stops)
    assert tok.decode(gen_ids[:n]) == expect_text


# ------------------------------------------------------- constrained decoding ----

LABELS = ["billing", "bug report", "account", "other"]


def test_label_choice_equals_teacher_forced_scores(model: Any, tok: Any) -> None:
    """The option chosen is the one with the highest teacher-forced log-probability
    (prompt run once, its cache shared by the options), and choice_prob is its softmax."""
    import math

    gen = Generator(model, tok, batch_size=4, max_new_tokens=MAX_NEW)
    out = gen.answer(PROMPTS[:4], [LABELS] * 4, complete=True)
    for prompt, g in zip(PROMPTS[:4], out, strict=True):
        totals = [sum(_teacher_forced(model, tok, prompt, tok.encode(
            o + STOPS[0], add_special_tokens=False))) for o in LABELS]
        best = max(range(len(LABELS)), key=lambda i: totals[i])
        assert g.text == LABELS[best]
        z = sum(math.exp(t - max(totals)) for t in totals)
        assert g.choice_prob == pytest.approx(1 / z, rel=1e-4)
        assert 1 / len(LABELS) <= (g.choice_prob or 0) <= 1


def test_prefix_choice_then_generation_and_free_prompts(model: Any, tok: Any) -> None:
    """A forced prefix (a tool call up to its name) is followed by greedy generation
    from prompt + prefix; prompts without options are answered as generate does."""
    prefixes = ['<tool_call>{"name":"search","arguments":',
                '<tool_call>{"name":"book","arguments":']
    gen = Generator(model, tok, batch_size=2, max_new_tokens=MAX_NEW)
    out = gen.answer(PROMPTS[:3], [prefixes, None, prefixes], complete=False)
    free = gen.generate([PROMPTS[1]])[0]
    assert out[1].text == free.text and out[1].choice_prob is None
    for i in (0, 2):
        g = out[i]
        prefix = next(p for p in prefixes if g.text.startswith(p))
        ids = tok.encode(PROMPTS[i], add_special_tokens=False) + \
            tok.encode(prefix, add_special_tokens=False)
        rest = Generator(model, tok, batch_size=1, max_new_tokens=MAX_NEW)._batch([ids])[0]
        assert g.text == prefix + rest.text
        assert g.choice_prob is not None and 0.5 <= g.choice_prob <= 1


def test_option_scores_without_a_shareable_cache_are_the_same(model: Any, tok: Any,
                                                               monkeypatch: Any) -> None:
    """A cache type that cannot be expanded falls back to one batched forward pass over
    prompt + option; the scores agree."""
    from transformers import DynamicCache

    gen = Generator(model, tok, batch_size=2, max_new_tokens=MAX_NEW)
    ids = tok.encode(PROMPTS[4], add_special_tokens=False)
    seqs = [tok.encode(o + STOPS[0], add_special_tokens=False) for o in LABELS]
    import torch

    with torch.inference_mode():
        shared = gen._option_logprobs(ids, seqs)

    def refuse(self: Any, n: int) -> None:
        raise NotImplementedError

    monkeypatch.setattr(DynamicCache, "batch_repeat_interleave", refuse)
    with torch.inference_mode():
        plain = gen._option_logprobs(ids, seqs)
    assert plain == pytest.approx(shared, abs=1e-4)

import numpy as np
import pandas as pd
import pytest
import torch

from euds_core.models.loading import load_causal_lm
from euds_core.scores.ifd import IFDScorer, answer_losses, ifd_ratio
from euds_core.storage.cache import DatasetCache

QUESTIONS = ["is the sun red", "was the cat fast", "the moon is"]
ANSWERS = ["the sun is red and the moon is blue", "the cat was slow", "blue"]


def naive_answer_nll(prefix: list[int], answer: list[int], model) -> float:
    """Reference: full logits of prefix + answer, mean NLL of the answer tokens only."""
    ids = torch.tensor([prefix + answer])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)  # (L, V)
    start = len(prefix)
    return float(-logp[start - 1 : -1].gather(-1, ids[0, start:, None]).mean())


def test_answer_losses_match_naive(tiny_causal_lm_dir):
    tok, model = load_causal_lm(str(tiny_causal_lm_dir), "cpu")
    losses = answer_losses(QUESTIONS, ANSWERS, tok, model, device="cpu", batch_size=2)
    bos = tok.bos_token_id
    for (cond, alone), q, a in zip(losses, QUESTIONS, ANSWERS):
        q_ids = tok(q + "\n\n", add_special_tokens=False)["input_ids"]
        a_ids = tok(a, add_special_tokens=False)["input_ids"]
        assert cond == pytest.approx(naive_answer_nll([bos] + q_ids, a_ids, model), abs=1e-4)
        assert alone == pytest.approx(naive_answer_nll([bos], a_ids, model), abs=1e-4)


def test_uniform_lm_gives_ifd_one(uniform_causal_lm_dir):
    # Uniform next-token distribution: loss = ln V with or without the question, so IFD = 1 exactly.
    table = pd.DataFrame(
        {"question": QUESTIONS, "answer": ANSWERS, "text": [q + "\n\n" + a for q, a in zip(QUESTIONS, ANSWERS)]}
    )
    np.testing.assert_allclose(IFDScorer(lm=str(uniform_causal_lm_dir)).score(table, batch_size=2), 1.0, atol=1e-5)


def test_ifd_ratio_and_cached_pass(tiny_causal_lm_dir, monkeypatch):
    np.testing.assert_allclose(ifd_ratio(np.array([[1.0, 2.0], [3.0, 2.0], [1.0, 0.0]])), [0.5, 1.5, 1.0])
    table = pd.DataFrame({"question": QUESTIONS, "answer": ANSWERS, "text": ["x"] * 3})
    cache = DatasetCache("ifd-test")
    first = IFDScorer(lm=str(tiny_causal_lm_dir)).score(table, cache=cache, batch_size=2)
    from euds_core.scores import ifd

    monkeypatch.setattr(ifd, "answer_losses", lambda *a, **k: pytest.fail("recomputed a cached LM pass"))
    np.testing.assert_array_equal(IFDScorer(lm=str(tiny_causal_lm_dir)).score(table, cache=cache), first)
    assert first.dtype == np.float32 and np.all(first > 0)

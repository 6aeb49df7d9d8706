import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from euds_core.models import lm_pass
from euds_core.models.loading import load_causal_lm
from euds_core.scores import generative
from euds_core.scores.generative import GenerativeScorer, PerplexityScorer, lm_token_stats
from tests.helpers import requires_assets

TEXTS = ["the cat sat on the mat", "a dog ran fast", "sun", "the red sun and the blue moon was slow"]


def naive_stats(text, tok, model):
    """Reference: full logits for one text, no batching, no chunking."""
    ids = torch.tensor([[tok.bos_token_id] + tok(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)  # (L, V)
    ent = -(logp.exp() * logp).sum(-1)[:-1]
    nll = -logp[:-1].gather(-1, ids[0, 1:, None]).squeeze(-1)
    return ent.mean().item(), nll.mean().item()


def test_batched_chunked_stats_match_naive(tiny_causal_lm_dir, monkeypatch):
    monkeypatch.setattr(lm_pass, "LOGIT_BUDGET", {"cpu": 40, "cuda": 40})  # force many tiny position chunks
    tok, model = load_causal_lm(str(tiny_causal_lm_dir), "cpu")
    stats = lm_token_stats(TEXTS, tok, model, device="cpu", batch_size=3)
    for text, (ent, nll) in zip(TEXTS, stats):
        ref_ent, ref_nll = naive_stats(text, tok, model)
        assert ent == pytest.approx(ref_ent, abs=1e-4) and nll == pytest.approx(ref_nll, abs=1e-4)
    vocab = model.config.vocab_size
    assert (stats[:, 0] > 0).all() and (stats[:, 0] <= np.log(vocab) + 1e-5).all()


def test_empty_token_text_scores_first_token_distribution(tiny_causal_lm_dir):
    tok, model = load_causal_lm(str(tiny_causal_lm_dir), "cpu")
    ((ent, nll),) = lm_token_stats(["   "], tok, model, device="cpu", batch_size=1)  # tokenises to nothing
    assert np.isfinite(ent) and ent == nll


def test_scorers_share_one_pass(tiny_causal_lm_dir, monkeypatch):
    from euds_core.storage.cache import DatasetCache

    table = pd.DataFrame({"text": TEXTS})
    cache = DatasetCache("gen")
    g = GenerativeScorer(lm=str(tiny_causal_lm_dir)).score(table, cache=cache, batch_size=2)
    monkeypatch.setattr(generative, "lm_token_stats", lambda *a, **k: pytest.fail("second LM pass"))
    p = PerplexityScorer(lm=str(tiny_causal_lm_dir)).score(table, cache=cache, batch_size=2)
    assert g.shape == p.shape == (4,) and not np.allclose(g, p)


def test_not_a_model_folder_is_input_error(tmp_path):
    from euds_core.errors import EudsInputError

    with pytest.raises(EudsInputError, match="not a causal LM folder"):
        GenerativeScorer(lm=str(tmp_path)).params()


@pytest.mark.slow
@requires_assets
def test_smollm2_prefers_real_text_over_shuffled():
    text = "The government said on Monday that it would raise taxes on fuel to pay for new schools and hospitals."
    words = text.split()
    shuffled = " ".join(np.random.default_rng(0).permutation(words))
    values = GenerativeScorer().score(pd.DataFrame({"text": [text, shuffled]}), batch_size=2)
    perplexity = PerplexityScorer().score(pd.DataFrame({"text": [text, shuffled]}), batch_size=2)
    assert values[0] < values[1] and perplexity[0] < perplexity[1]


def test_sequence_start_prefers_the_document_separator():
    from types import SimpleNamespace

    from euds_core.models.loading import lm_bos_id

    chat = SimpleNamespace(get_vocab=lambda: {"<|endoftext|>": 0, "<|im_start|>": 1}, bos_token_id=1, eos_token_id=2)
    plain = SimpleNamespace(get_vocab=lambda: {"<s>": 5}, bos_token_id=5, eos_token_id=6)
    no_bos = SimpleNamespace(get_vocab=lambda: {}, bos_token_id=None, eos_token_id=6)
    assert (lm_bos_id(chat), lm_bos_id(plain), lm_bos_id(no_bos)) == (0, 5, 6)


@pytest.mark.slow
@requires_assets
def test_the_dequantised_lm_copy_lives_in_the_shared_model_cache_not_the_workspace(workspace, monkeypatch):
    from euds_core.models.loading import prepare_default_lm

    copy = prepare_default_lm()
    assert copy.parent == Path(os.environ["EUDS_MODEL_CACHE"]) and (copy / "config.json").exists()
    assert not list(workspace.rglob("config.json"))  # a new workspace has nothing to rebuild
    monkeypatch.setenv("EUDS_HOME", str(workspace / "another"))
    assert prepare_default_lm() == copy

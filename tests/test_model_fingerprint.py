"""Model fingerprints cover every byte of the weights, and a weight file is read once per version."""

from __future__ import annotations

import numpy as np

from euds_core.models import loading
from euds_core.models.loading import model_hash


def fake_model(folder, weights: bytes):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def test_a_byte_past_the_first_mib_changes_the_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setenv("EUDS_MODEL_CACHE", str(tmp_path / "cache"))
    weights = np.random.default_rng(0).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    first = model_hash(fake_model(tmp_path / "a", weights))
    changed = bytearray(weights)
    changed[(2 << 20) + 12345] ^= 1  # one bit, 2 MiB in: the old fingerprint read only the first MiB
    assert model_hash(fake_model(tmp_path / "b", bytes(changed))) != first
    assert model_hash(fake_model(tmp_path / "c", weights)) == first  # the same bytes elsewhere: the same model


def test_the_digest_is_computed_once_per_file_version(tmp_path, monkeypatch):
    monkeypatch.setenv("EUDS_MODEL_CACHE", str(tmp_path / "cache"))
    folder = fake_model(tmp_path / "m", b"x" * 1000)
    model_hash(folder)
    reads = []
    real = loading.hashlib.sha256

    def counting(*args):
        reads.append(args)
        return real(*args)

    monkeypatch.setattr(loading.hashlib, "sha256", counting)
    model_hash(folder)
    assert len(reads) == 1  # the folder's own digest; the weight file's comes from the remembered one
    (folder / "model.safetensors").write_bytes(b"y" * 1000)  # rewritten: same size, new mtime
    reads.clear()
    model_hash(folder)
    assert len(reads) == 2

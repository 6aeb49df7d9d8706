"""``score --engine ray``: the same scorer classes, run through Ray Data ``map_batches`` actor pools.

Row-local scores (each row's value depends only on that row: token entropy, generative entropy, perplexity,
IFD) run whole in the actors. Pool-level scores whose expensive part is per row (semantic: embeddings, then
k-means on the pool) run that part in the actors and the cheap pool step on the driver. Everything else
(combinations such as ``igse``, pool statistics) runs on the driver through the local code path. Results go
through the same cache as ``--engine local`` (same keys), so either engine reuses the other's scores. The
actors write their results as Parquet shards (``--ray-storage``), so on a cluster the results travel through
shared storage rather than the object store.

With no address, Ray starts in-process on this machine (``ray.init()``); with ``--ray-address`` it joins a
running cluster (``HEAD_IP:6379`` or ``auto``), with the cluster's token when it uses token authentication
(docs/ray-cluster.md). ``euds_core`` is shipped to the workers with
``runtime_env={"py_modules": [...]}``; the cluster's Python needs the requirements installed and the models
at the same paths (pass ``--lm``/``--encoder`` folders on shared storage). Actors ask for one GPU each when
the cluster has GPUs (``--device auto`` or ``cuda``), else ``cpus_per_actor`` CPUs (torch threads = that count).
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from euds_core.data.table import Dataset
from euds_core.errors import EudsInputError
from euds_core.models.loading import resolve_device
from euds_core.scores import make_scorer
from euds_core.scoring.engine import (
    DEFAULT_BATCH_SIZES,
    ScoringProgressFn,
    check_columns,
    checked_scores,
    expand_score_names,
)
from euds_core.storage.cache import DatasetCache
from euds_core.storage.workspace import euds_home, workspace_dir

ROW_LOCAL_SCORES = {"generative", "perplexity", "ifd"}  # plus information with variant "token"
EMBEDDING_SCORES = {"semantic"}  # actors embed; the driver fits k-means on the pool
RAY_ROWS_PER_BATCH = 256  # rows handed to an actor per call (the scorer batches inside with --batch-size)


def runs_in_actors(scorer) -> bool:
    """Whether ``scorer`` can be split by rows (see the module docstring)."""
    if scorer.name == "information":
        return getattr(scorer, "variant", "token") == "token"
    return scorer.name in ROW_LOCAL_SCORES | EMBEDDING_SCORES


def require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise EudsInputError(
            "--engine ray needs Ray Data: pip install 'ray[data]==2.60.0' (or use --engine local)"
        ) from None
    return ray


RAY_TOKEN_HELP = (
    "give this machine the cluster's token: copy it (`ray get-auth-token` on the head prints it) to "
    "~/.ray/auth_token, or set RAY_AUTH_TOKEN (the token) or RAY_AUTH_TOKEN_PATH (a file holding it)"
)


def enable_token_auth_if_token_found() -> bool:
    """Join a token-auth cluster the way ``ray start --head`` starts one; True when token mode is on.

    ``ray start --head`` (Ray 2.60) turns token authentication on when RAY_AUTH_MODE is unset and a token
    exists (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token), but a driver given an explicit address
    never does, so it knocks without the token ("Authentication token is missing or incorrect") until it
    times out. Same rule here: an explicit RAY_AUTH_MODE wins; else a token found turns token mode on.
    """
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode is not None:
        return mode.lower() == "token"
    token_path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if token_path and not os.environ.get("RAY_AUTH_TOKEN"):
        # Ray aborts the whole process (not an exception) on an unreadable or empty RAY_AUTH_TOKEN_PATH.
        path = Path(token_path).expanduser()
        if not path.is_file() or not path.read_text(errors="replace").strip():
            raise EudsInputError(f"RAY_AUTH_TOKEN_PATH={token_path} is not a file holding a Ray token")
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray without token authentication
        return False
    if not AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True):
        return False
    os.environ["RAY_AUTH_MODE"] = "token"
    Config.initialize("")  # Ray caches its config at import; re-read it so this process sees token mode
    return True


def start_ray(address: str | None = None, *, num_cpus: int | None = None):
    """Join ``address`` or start a local in-process cluster; idempotent. Returns the ray module."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    runtime_env: dict = {
        "py_modules": [str(Path(__file__).resolve().parents[1])],  # the euds_core package
        "env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
    }
    if address is None:
        runtime_env["env_vars"]["EUDS_HOME"] = str(euds_home())  # same workspace: the dequantised LM copy is reused
    token_auth = address is not None and enable_token_auth_if_token_found()
    try:
        ray.init(
            address=address,
            num_cpus=num_cpus if address is None else None,
            runtime_env=runtime_env,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    except (ConnectionError, ValueError, RuntimeError, ray.exceptions.RayError) as exc:
        raise EudsInputError(ray_start_error(address, exc, token_auth)) from None
    ray.data.DataContext.get_current().enable_progress_bars = False
    return ray


def ray_start_error(address: str | None, exc: Exception, token_auth: bool) -> str:
    """The ``error:`` line for a failed ``ray.init``: what failed, and what to set when it was the token."""
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if address is None:
        return f"could not start a local Ray: {first_line}"
    if token_auth:
        hint = (
            "This driver sent a token: check it is the head's (`ray get-auth-token` on the head prints it); "
            "if the cluster was started with RAY_AUTH_MODE=disabled, set the same here"
        )
    else:
        hint = f"If the cluster uses token authentication (Ray's default once a token exists), {RAY_TOKEN_HELP}"
    return f"could not join Ray at {address}: {first_line.rstrip('.')}. Is the cluster up at that address? {hint}"


class _ActorBase:
    """Builds the scorer once per actor (models load once), then scores the batches it is handed."""

    def __init__(self, name: str, options: dict, device: str, batch_size: int, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self.scorer = make_scorer(name, options)
        self.device = resolve_device(device)
        self.batch_size = batch_size

    def _table(self, batch: dict) -> pd.DataFrame:
        return pd.DataFrame({k: v for k, v in batch.items() if k != "_row"})


class ScoreActor(_ActorBase):
    def __call__(self, batch: dict) -> dict:
        values = self.scorer.score(self._table(batch), device=self.device, batch_size=self.batch_size, cache=None)
        return {"_row": batch["_row"], "value": np.asarray(values, dtype=np.float32)}


class EmbedActor(_ActorBase):
    def __call__(self, batch: dict) -> dict:
        from euds_core.models.embeddings import compute_embeddings

        emb = compute_embeddings(
            self._table(batch), encoder=self.scorer.encoder, device=self.device, batch_size=self.batch_size, cache=None
        )
        return {"_row": batch["_row"], "value": emb.astype(np.float32)}  # (B, dim)


def _map_rows(
    ray, table: pd.DataFrame, actor: type, name: str, options: dict, plan: ActorPlan, shards: Path
) -> np.ndarray:
    """Run ``actor`` over ``table`` in ``num_actors`` actors; the per-row outputs back in row order.

    The actors' results are written as Parquet shards by the workers (``write_parquet`` into ``shards``,
    which on a cluster must be storage every node and the driver see: ``storage`` of
    :func:`score_dataset_ray`); the driver reads back only the (row, value) columns, then removes them. The
    input goes in as in-memory blocks: the driver holds the table anyway, and a ``read_parquet`` input
    deadlocked on a 2-CPU local Ray whose actors held every CPU (its file-listing tasks need a CPU).
    """
    frame = table.assign(_row=np.arange(len(table)))
    n_blocks = max(1, min(len(frame), plan.num_actors * 4, math.ceil(len(frame) / 32)))
    bounds = np.linspace(0, len(frame), n_blocks + 1).astype(int)
    blocks = [frame.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    out = ray.data.from_pandas(blocks).map_batches(
        actor,
        fn_constructor_kwargs={
            "name": name,
            "options": options,
            "device": plan.device,
            "batch_size": plan.batch_size,
            "threads": int(plan.cpus_per_actor),
        },
        batch_size=RAY_ROWS_PER_BATCH,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=plan.num_actors),
        num_cpus=plan.cpus_per_actor,
        num_gpus=1 if plan.gpu else None,
    )
    shutil.rmtree(shards, ignore_errors=True)  # leftovers of a killed run
    # Writes are I/O: at zero CPUs they run beside actors that hold every CPU instead of waiting for one.
    out.write_parquet(str(shards), ray_remote_args={"num_cpus": 0})
    order, values = _read_result_shards(shards)
    shutil.rmtree(shards, ignore_errors=True)
    result = np.empty_like(values)
    result[order] = values
    if len(order) != len(table) or len(np.unique(order)) != len(table):
        raise RuntimeError(f"Ray returned {len(order)} rows for {len(table)}")  # a bug, not a user error
    return result


def _read_result_shards(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(rows (n,), values (n,) or (n, dim)) from the actors' Parquet shards; tensors arrive as Ray's
    fixed-shape tensor extension, whose storage is a list column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, values = [], []
    for shard in sorted(folder.glob("*.parquet")):
        part = pq.read_table(shard)
        rows.append(part.column("_row").to_numpy())
        column = part.column("value").combine_chunks()
        if isinstance(column, pa.ExtensionArray):
            column = column.storage
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            values.append(np.asarray(column.flatten()).reshape(len(column), -1))
        else:
            values.append(column.to_numpy())
    if not rows:
        raise RuntimeError(f"Ray wrote no result shards under {folder}")  # a bug, not a user error
    return np.concatenate(rows), np.concatenate(values)


@dataclass(frozen=True)
class ActorPlan:
    """How the actors run: on which device, how many, with how many CPUs each, and rows per model batch."""

    device: str  # "cuda" or "cpu"
    gpu: bool
    batch_size: int
    num_actors: int
    cpus_per_actor: float


def plan_actors(
    node_resources: list[dict],
    *,
    device: str | None,
    batch_size: int | None,
    num_actors: int | None,
    cpus_per_actor: float | None,
) -> ActorPlan:
    """Fit the actors to the live nodes' resources: one GPU each when the cluster has GPUs and the device
    allows it, else CPU actors of ``cpus_per_actor`` (default 1-2) filling every node's CPUs.

    Per node, not the cluster total: two 1-CPU nodes hold two 1-CPU actors, never one 2-CPU actor (Ray Data
    would wait forever for a node with 2 CPUs)."""
    device = device or "auto"
    node_cpus = [float(r.get("CPU", 0)) for r in node_resources]  # (nodes,)
    gpus = int(sum(r.get("GPU", 0) for r in node_resources))
    # The cluster's GPUs count, not the driver's: a CPU-only laptop may drive a GPU cluster.
    gpu = device.startswith("cuda") or (device == "auto" and gpus > 0)
    if gpu and gpus == 0:
        raise EudsInputError("--device cuda was asked for but the Ray cluster has no GPU; use --device auto or cpu")
    cpus = cpus_per_actor or max(1.0, min(2.0, max(node_cpus, default=1.0)))
    actors = num_actors or (gpus if gpu else 0) or max(1, sum(int(c // cpus) for c in node_cpus))
    return ActorPlan(
        device="cuda" if gpu else "cpu",
        gpu=gpu,
        batch_size=batch_size or DEFAULT_BATCH_SIZES["cuda" if gpu else "cpu"],
        num_actors=actors,
        cpus_per_actor=cpus,
    )


def score_in_actors(ray, scorer, table: pd.DataFrame, options: dict, plan: ActorPlan, shards: Path) -> np.ndarray:
    """One score with its per-row work in Ray actors: the whole score for row-local scorers; for ``semantic``
    the actors embed and the driver fits k-means on the pool (the same steps as ``SemanticScorer.score``)."""
    columns = [c for c in ("text", "label", "question", "answer") if c in table.columns]
    if scorer.name not in EMBEDDING_SCORES:
        return _map_rows(ray, table[columns], ScoreActor, scorer.name, options, plan, shards)
    emb = _map_rows(ray, table[columns], EmbedActor, scorer.name, options, plan, shards)  # (n, dim)
    return scorer.entropy(emb, scorer.centroid_sets(emb))


def score_on_driver(
    scorer,
    table: pd.DataFrame,
    cache: DatasetCache,
    inputs: dict,
    *,
    device: str | None,
    batch_size: int | None,
    joined_cluster: bool,
) -> np.ndarray:
    """One pool-level score (combinations, pool statistics) through the local code path on this machine."""
    # A driver that joined a GPU cluster may have no GPU itself: --device cuda meant the actors.
    resolved = resolve_device("auto" if (device or "").startswith("cuda") and joined_cluster else device)
    rows = batch_size or DEFAULT_BATCH_SIZES["cuda" if resolved.startswith("cuda") else "cpu"]
    return scorer.score(table, device=resolved, batch_size=rows, cache=cache, inputs=inputs)


def score_dataset_ray(
    dataset: Dataset,
    names: list[str],
    *,
    device: str = "auto",
    batch_size: int | None = None,
    options: dict | None = None,
    address: str | None = None,
    num_actors: int | None = None,
    cpus_per_actor: float | None = None,
    progress: ScoringProgressFn | None = None,
    storage: str | Path | None = None,
) -> pd.DataFrame:
    """:func:`euds_core.scoring.engine.score_dataset` with the per-row work in Ray Data actors; same columns, same cache.

    ``storage``: the folder the actors write their result shards to (default: the workspace's ``ray``
    folder, right for a local Ray; on a cluster give storage every node sees, such as an NFS path).
    """
    names = expand_score_names(names)
    check_columns(dataset, names)
    cache = DatasetCache(dataset.id)
    table = dataset.table.reset_index(drop=True)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    shards_root = Path(storage or workspace_dir("ray")).expanduser()
    ray = plan = None
    out: dict[str, np.ndarray] = {}
    for name in names:
        scorer = make_scorer(name, options)
        params = scorer.params()
        values = cache.load_score(name, params)
        if values is None:
            if runs_in_actors(scorer):
                ray = ray or start_ray(address)
                plan = plan or plan_actors(
                    [node["Resources"] for node in ray.nodes() if node["Alive"]],
                    device=device,
                    batch_size=batch_size,
                    num_actors=num_actors,
                    cpus_per_actor=cpus_per_actor,
                )
                values = score_in_actors(ray, scorer, table, options, plan, shards_root / f"{dataset.id}-{name}")
            else:
                inputs = {dep: out[dep] for dep in scorer.depends_on}
                values = score_on_driver(
                    scorer, table, cache, inputs, device=device, batch_size=batch_size, joined_cluster=bool(address)
                )
            values = checked_scores(name, values, len(table))
            cache.save_score(name, params, values)
        if progress:
            progress(name, len(values), len(values), "done")
        out[name] = values
    return pd.DataFrame(out, index=dataset.table.index)


def shutdown_ray() -> None:
    """Stop the Ray this process started or joined (tests; the CLI exits anyway)."""
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()

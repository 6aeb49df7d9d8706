"""``score --engine ray --ray-address`` against a real multi-process Ray cluster on loopback.

A head and one extra worker node run as child processes (``ray start --block``), token authentication on
as a default ``ray start --head`` turns it on once ``~/.ray/auth_token`` exists, and the CLI joins them with
``--ray-address`` and ``--ray-storage``. These are the commands of docs/ray-cluster.md. ``HOME`` is a temp
folder, so the token and Ray's files never touch the real home.

Loopback only: Ray rewrites ``127.0.0.1`` and ``localhost`` (given to ``--node-ip-address`` or
``--address``) to the machine's network address, so the nodes use ``127.0.0.2`` (loopback too, and left
alone). Ray's gRPC servers still listen on every interface (not configurable in Ray 2.60); what the nodes
advertise, and every address the test and the driver contact, is 127.0.0.2.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ray.data")
psutil = pytest.importorskip("psutil")  # a Ray dependency

from tests.helpers import TINY_VOCAB  # noqa: E402

pytestmark = pytest.mark.slow  # a two-node cluster takes ~30-60 s to start and stop on 2 cores

RAY = str(Path(sys.executable).with_name("ray"))  # the venv's ray CLI, the same Ray as the driver's
NODE_IP = "127.0.0.2"  # loopback that Ray does not rewrite (it rewrites 127.0.0.1 to the network address)
NODE_START_TIMEOUT_S = 120
DRIVER_TIMEOUT_S = 300
REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))  # Ray's servers listen on every interface: free there, not only on loopback
        return sock.getsockname()[1]


def free_port_range(count: int) -> tuple[int, int]:
    """``count`` consecutive free ports (Ray's worker processes take one each)."""
    rng = np.random.default_rng()
    for _ in range(200):
        low = int(rng.integers(20000, 60000 - count))
        try:
            for port in range(low, low + count):
                with socket.socket() as sock:
                    sock.bind(("", port))
        except OSError:
            continue
        return low, low + count - 1
    raise RuntimeError(f"no {count} consecutive free ports")


def node_port_args() -> list[str]:
    """A fixed free port for every port a node opens that ``ray start`` lets us fix."""
    low, high = free_port_range(24)
    args = ["--min-worker-port", str(low), "--max-worker-port", str(high)]
    for flag in (
        "--node-manager-port",
        "--object-manager-port",
        "--dashboard-agent-listen-port",
        "--dashboard-agent-grpc-port",
        "--runtime-env-agent-port",
        "--metrics-export-port",
    ):
        args += [flag, str(free_port())]
    return args


def start_node(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """``ray start ... --block`` in its own process group; returns once the node says it started."""
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [RAY, "start", *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + NODE_START_TIMEOUT_S
    while "Ray runtime started." not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_processes([proc])
            pytest.fail(f"ray start {args[0]} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)
    return proc


def stop_processes(procs: list[subprocess.Popen]) -> None:
    """Stop each node by its own process group, then any process it spawned in another group (Ray's worker
    processes start their own sessions), each by its pid."""
    spawned = []
    for proc in procs:
        try:
            spawned += psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass  # a head can take 20 s to stop on SIGTERM; the SIGKILL below ends it
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
    for child in spawned:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(spawned, timeout=30)


def non_loopback_addresses() -> set[str]:
    return {
        addr.address
        for addrs in psutil.net_if_addrs().values()
        for addr in addrs
        if addr.family in (socket.AF_INET, socket.AF_INET6) and not addr.address.startswith(("127.", "::1", "fe80"))
    }


def listening_addresses(procs: list[subprocess.Popen]) -> dict[str, set[str]]:
    """{process name: the local addresses its TCP sockets listen on} over the nodes and every process they spawned."""
    found: dict[str, set[str]] = {}
    for proc in procs:
        try:
            tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for member in tree:
            try:
                sockets = member.net_connections(kind="tcp")
                name = member.name()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            for sock in sockets:
                if sock.status == psutil.CONN_LISTEN:
                    found.setdefault(name, set()).add(sock.laddr.ip)
    return found


class LoopbackCluster:
    """A head and one worker node on 127.0.0.2, token auth on, one CPU each."""

    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"  # HOME for the nodes and the driver: holds .ray/auth_token
        self.home.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
        self.env.update(HOME=str(self.home), RAY_USAGE_STATS_ENABLED="0")
        self.address = f"{NODE_IP}:{free_port()}"
        self.logs = {"head": root / "head.log", "worker": root / "worker.log"}
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        # The token first: `ray start --head` turns token authentication on because ~/.ray/auth_token exists.
        subprocess.run([RAY, "get-auth-token", "--generate"], env=self.env, check=True, capture_output=True, timeout=60)
        common = ["--node-ip-address", NODE_IP, "--num-cpus", "1", "--disable-usage-stats", "--block"]
        self.procs["head"] = start_node(
            [
                "--head",
                "--port",
                self.address.rsplit(":", 1)[1],
                "--include-dashboard=false",
                "--dashboard-port",
                str(free_port()),
                "--temp-dir",
                str(self.root / "ray"),
                *common,
                *node_port_args(),
            ],
            self.env,
            self.logs["head"],
        )
        # A joining node turns token mode on only when told to; it reads the same ~/.ray/auth_token.
        self.procs["worker"] = self.start_worker()

    def start_worker(self) -> subprocess.Popen:
        args = ["--address", self.address, "--node-ip-address", NODE_IP, "--num-cpus", "1"]
        args += ["--disable-usage-stats", "--block", *node_port_args()]
        return start_node(args, {**self.env, "RAY_AUTH_MODE": "token"}, self.logs["worker"])

    def stop(self) -> None:
        stop_processes(list(self.procs.values()))


@pytest.fixture(scope="module")
def cluster():
    # A short root: Ray's Unix socket paths under --temp-dir must fit in 107 characters.
    root = Path(tempfile.mkdtemp(prefix="euds-ray-", dir="/tmp"))
    cluster = LoopbackCluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def write_pool(path: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    words = TINY_VOCAB[4:]
    texts = [" ".join(rng.choice(words, rng.integers(1, 12))) for _ in range(n)]
    pd.DataFrame({"text": texts, "label": rng.choice(["x", "y"], n)}).to_csv(path, index=False)
    return path


def run_score(args: list[str], env: dict, euds_home: Path, timeout: float = DRIVER_TIMEOUT_S):
    """``python -m euds_core score ...`` as a user runs it; its own EUDS_HOME so no cache is shared."""
    return subprocess.run(
        [sys.executable, "-m", "euds_core", "score", *args],
        env={**env, "EUDS_HOME": str(euds_home)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_joins_a_token_auth_cluster_and_matches_the_local_engine(cluster, tmp_path, tiny_causal_lm_dir):
    pool = write_pool(tmp_path / "pool.csv", 200)
    storage = tmp_path / "shared-storage"
    score_args = [str(pool), "--text-col", "text", "--scores", "information,generative", "--device", "cpu"]
    score_args += ["--tokenizer", "whitespace", "--lm", str(tiny_causal_lm_dir)]

    via_ray = run_score(
        [*score_args, "--engine", "ray", "--ray-address", cluster.address, "--ray-storage", str(storage)]
        + ["--out", str(tmp_path / "ray.parquet")],
        cluster.env,  # no RAY_AUTH_MODE: the driver finds ~/.ray/auth_token itself
        tmp_path / "home-ray",
    )
    assert via_ray.returncode == 0, via_ray.stderr[-3000:]
    assert "wrote 200 rows x 2 scores" in via_ray.stdout
    assert storage.is_dir() and not any(storage.iterdir())  # the shards went through the shared folder, then away
    local = run_score([*score_args, "--out", str(tmp_path / "local.parquet")], cluster.env, tmp_path / "home-local")
    assert local.returncode == 0, local.stderr[-3000:]
    ray_scores, local_scores = pd.read_parquet(tmp_path / "ray.parquet"), pd.read_parquet(tmp_path / "local.parquet")
    assert list(ray_scores.columns) == list(local_scores.columns)
    for name in ("information", "generative"):
        np.testing.assert_allclose(ray_scores[name], local_scores[name], atol=1e-5, rtol=0, err_msg=name)

    # Both nodes advertise loopback; no log of the run names one of this machine's network addresses.
    for node in ("head", "worker"):
        assert f"Local node IP: {NODE_IP}" in cluster.logs[node].read_text()
    seen = via_ray.stdout + via_ray.stderr + "".join(log.read_text(errors="replace") for log in cluster.logs.values())
    for path in (cluster.root / "ray").rglob("*"):
        if path.is_file() and path.suffix in (".out", ".err", ".log"):
            seen += path.read_text(errors="replace")
    assert not [addr for addr in non_loopback_addresses() if addr in seen]
    # Every listener is on loopback, except the core gRPC servers (GCS, raylet, core workers), which Ray 2.60
    # binds to the wildcard address whatever the node IP (no setting changes it; measured: '::').
    listening = listening_addresses(list(cluster.procs.values()))
    assert listening, "found no listening socket of the cluster's processes"
    ray_core = lambda name: name in ("gcs_server", "raylet") or name.startswith("ray::")  # noqa: E731
    allowed = lambda name, ip: ip.startswith("127.") or (ip in ("::", "0.0.0.0") and ray_core(name))  # noqa: E731
    assert all(allowed(name, ip) for name, ips in listening.items() for ip in ips), listening


def test_a_driver_without_the_token_gets_a_clear_error(cluster, tmp_path):
    pool = write_pool(tmp_path / "pool.csv", 20)
    empty_home = tmp_path / "no-token-home"
    empty_home.mkdir()
    result = run_score(
        [str(pool), "--text-col", "text", "--scores", "information", "--tokenizer", "whitespace"]
        + ["--engine", "ray", "--ray-address", cluster.address, "--out", str(tmp_path / "s.parquet")],
        {**cluster.env, "HOME": str(empty_home)},
        tmp_path / "home",
    )
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: could not join Ray at {cluster.address}")
    assert "RAY_AUTH_TOKEN" in error and "~/.ray/auth_token" in error and "ray get-auth-token" in error
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "s.parquet").exists()


def test_a_worker_node_killed_mid_run_leaves_the_run_to_the_head(cluster, tmp_path, tiny_causal_lm_dir):
    """Measured behaviour (docs/ray-cluster.md): Ray retries the dead node's tasks and restarts its actor on
    the head, so the run finishes there with every row once and the same values as the local engine."""
    pool = write_pool(tmp_path / "pool.csv", 2000, seed=2)
    score_args = [str(pool), "--text-col", "text", "--scores", "generative", "--device", "cpu"]
    score_args += ["--tokenizer", "whitespace", "--lm", str(tiny_causal_lm_dir)]
    ray_args = [*score_args, "--engine", "ray", "--ray-address", cluster.address]
    ray_args += ["--ray-storage", str(tmp_path / "shared-storage"), "--out", str(tmp_path / "ray.parquet")]
    stderr_log = tmp_path / "driver.err"
    with open(stderr_log, "w") as err:
        driver = subprocess.Popen(
            [sys.executable, "-m", "euds_core", "score", *ray_args],
            env={**cluster.env, "EUDS_HOME": str(tmp_path / "home-ray")},
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + DRIVER_TIMEOUT_S
        while "Starting execution of Dataset" not in stderr_log.read_text(errors="replace"):
            assert driver.poll() is None, stderr_log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the Ray Data run never started"
            time.sleep(0.2)
        time.sleep(5)  # the actors are scoring (a 2,000-row run takes ~20 s on two 1-CPU actors)
        assert driver.poll() is None, "the run ended before the worker node was killed: nothing was measured"
        stop_processes([cluster.procs.pop("worker")])
        assert driver.wait(timeout=DRIVER_TIMEOUT_S) == 0, stderr_log.read_text(errors="replace")[-3000:]
    finally:
        if driver.poll() is None:
            stop_processes([driver])
        if "worker" not in cluster.procs:
            cluster.procs["worker"] = cluster.start_worker()  # the next test gets its two nodes back
    local = run_score([*score_args, "--out", str(tmp_path / "local.parquet")], cluster.env, tmp_path / "home-local")
    assert local.returncode == 0, local.stderr[-3000:]
    via_ray, expected = pd.read_parquet(tmp_path / "ray.parquet"), pd.read_parquet(tmp_path / "local.parquet")
    assert len(via_ray) == 2000
    np.testing.assert_allclose(via_ray["generative"], expected["generative"], atol=1e-5, rtol=0)

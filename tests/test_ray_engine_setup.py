"""The Ray engine's set-up, without starting Ray: actors fitted to the nodes, and the driver's token rule."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from euds_core.errors import EudsInputError
from euds_core.scoring.ray_engine import plan_actors, ray_start_error

REPO_ROOT = Path(__file__).resolve().parents[1]


def plan(nodes, **kwargs):
    defaults = dict(device="auto", batch_size=None, num_actors=None, cpus_per_actor=None)
    return plan_actors(nodes, **{**defaults, **kwargs})


def test_two_one_cpu_nodes_get_two_one_cpu_actors():
    # The cluster total (2 CPUs) would give one 2-CPU actor that no node can hold: Ray Data waits forever.
    p = plan([{"CPU": 1.0}, {"CPU": 1.0}])
    assert (p.num_actors, p.cpus_per_actor, p.gpu, p.device) == (2, 1.0, False, "cpu")


def test_cpu_actors_fill_each_node():
    assert (plan([{"CPU": 4.0}]).num_actors, plan([{"CPU": 4.0}]).cpus_per_actor) == (2, 2.0)
    assert plan([{"CPU": 4.0}, {"CPU": 3.0}]).num_actors == 3  # 2 + 1 two-CPU actors; the spare CPU idles
    assert plan([{"CPU": 2.0}], cpus_per_actor=1).num_actors == 2
    assert plan([{"CPU": 8.0}], num_actors=3).num_actors == 3


def test_gpus_anywhere_in_the_cluster_get_one_actor_each():
    p = plan([{"CPU": 2.0}, {"CPU": 8.0, "GPU": 2.0}])
    assert (p.num_actors, p.gpu, p.device, p.batch_size) == (2, True, "cuda", 64)
    assert plan([{"CPU": 2.0, "GPU": 1.0}], device="cpu").gpu is False


def test_cuda_on_a_cluster_without_gpus_is_a_user_error():
    with pytest.raises(EudsInputError, match="no GPU"):
        plan([{"CPU": 2.0}], device="cuda")


def test_the_join_error_says_what_to_set():
    exc = ConnectionError("Failed to connect to Ray cluster at 127.0.0.2:6379.\nmore")
    missing = ray_start_error("127.0.0.2:6379", exc, token_auth=False)
    assert missing.startswith("could not join Ray at 127.0.0.2:6379: Failed to connect")
    assert "more" not in missing
    assert "~/.ray/auth_token" in missing and "RAY_AUTH_TOKEN" in missing and "ray get-auth-token" in missing
    wrong = ray_start_error("127.0.0.2:6379", exc, token_auth=True)
    assert "sent a token" in wrong and "RAY_AUTH_MODE=disabled" in wrong
    assert ray_start_error(None, exc, token_auth=False).startswith("could not start a local Ray")


def token_mode_in_fresh_process(home: Path, **env) -> str:
    """RAY_AUTH_MODE after the token rule ran in a fresh interpreter (Ray caches the token per process)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    code = (
        "import os\n"
        "from euds_core.scoring.ray_engine import enable_token_auth_if_token_found as f\n"
        "from euds_core.errors import EudsInputError\n"
        "try:\n    on = f()\nexcept EudsInputError as e:\n    print('error:', e); raise SystemExit\n"
        "print(on, os.environ.get('RAY_AUTH_MODE'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "HOME": str(home), **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()[-1]


def test_the_driver_turns_token_mode_on_when_it_finds_a_token(tmp_path):
    pytest.importorskip("ray")
    assert token_mode_in_fresh_process(tmp_path) == "False None"  # no token: mode left unset
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("a" * 64)
    assert token_mode_in_fresh_process(tmp_path) == "True token"
    # An explicit mode wins over a token found.
    assert token_mode_in_fresh_process(tmp_path, RAY_AUTH_MODE="disabled") == "False disabled"
    missing = tmp_path / "nowhere" / "token"
    assert token_mode_in_fresh_process(tmp_path, RAY_AUTH_TOKEN_PATH=str(missing)).startswith(
        f"error: RAY_AUTH_TOKEN_PATH={missing} is not a file"
    )

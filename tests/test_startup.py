"""Start-up and stopping as a user meets them: light imports, --version, --json failures, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from test_cli import acflow_cmd

import acflow

HEAVY = ("pyarrow", "duckdb", "aiohttp", "pydantic", "acflow.sandbox.server")


def _loaded_after(statement: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of `heavy` a fresh interpreter has loaded after running `statement`."""
    code = f"import sys; {statement}; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_importing_the_cli_loads_no_heavy_library():
    """`acflow --help` pays only for typer and rich: the data libraries load inside the commands."""
    assert _loaded_after("import acflow.cli") == []


def test_importing_acflow_loads_no_heavy_library_until_a_name_is_used():
    assert _loaded_after("import acflow") == []
    # a name loads what its module needs: export first checks the key (aiohttp), run the mirror too
    assert _loaded_after("import acflow; acflow.export") == ["aiohttp"]
    assert "duckdb" in _loaded_after("import acflow; acflow.run")


def test_the_public_names_are_all_reachable():
    for name in acflow.__all__:
        assert getattr(acflow, name) is not None, name
    assert set(acflow.__all__) <= set(dir(acflow))
    with pytest.raises(AttributeError):
        acflow.no_such_name  # noqa: B018


def test_sandbox_is_listed_and_runs_though_mounted_lazily():
    result = acflow_cmd("--help")
    assert result.returncode == 0 and "sandbox" in result.stdout
    result = acflow_cmd("sandbox", "serve", "--help")
    assert result.returncode == 0 and "--contacts" in result.stdout


def test_version():
    result = acflow_cmd("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"acflow {acflow.__version__}\n", "")


def test_json_failure_is_a_json_object_with_the_exit_code(sandbox, tmp_path):
    result = acflow_cmd("export", "deal", "--to", str(tmp_path / "x.csv"), "--json", "--api-url", sandbox.url,
                        "--api-key", "k")
    assert result.returncode == 2
    assert json.loads(result.stdout) == {"ok": False, "error": "unknown entity 'deal'. Did you mean 'deals'?",
                                         "exit_code": 2}
    result = acflow_cmd("sync", "contacts", "--json", "--api-url", sandbox.url, "--api-key", "nope",
                        "--mirror", str(tmp_path / "m.duckdb"))
    assert result.returncode == 3
    assert json.loads(result.stdout)["exit_code"] == 3


def _started(args: list[str], cwd) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVECAMPAIGN_")}
    return subprocess.Popen([sys.executable, "-m", "acflow.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_mid_sync_is_one_line_and_its_exit_code(sandbox, tmp_path, signum, code):
    sandbox.set_latency(400)
    proc = _started(["sync", "contacts", "deals", "--api-url", sandbox.url, "--api-key", sandbox.admin_key,
                     "--mirror", str(tmp_path / "m.duckdb"), "--rate-limit", "1000"], tmp_path)
    try:
        deadline = time.monotonic() + 60
        while sandbox.stats()["requests"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
        sandbox.set_latency(0)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith(("Interrupted", "Stopped"))
    assert len(stderr.strip().splitlines()) == 1, stderr


# The interpreter says "up" once it has booted (a Ctrl-C before that is Python's, not acflow's), then runs
# `acflow entities` as `python -m acflow.cli` would.
BOOTED = ("import os, runpy, sys; os.write(2, b'up\\n'); sys.argv = ['acflow', 'entities']; "
          "runpy.run_module('acflow.cli', run_name='__main__', alter_sys=True)")


@pytest.mark.parametrize("delay", [0.02, 0.05, 0.1, 0.2, 0.3])
def test_ctrl_c_during_start_up_is_one_line(tmp_path, delay):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVECAMPAIGN_")}
    proc = subprocess.Popen([sys.executable, "-c", BOOTED], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp_path)
    assert proc.stderr.readline() == "up\n"
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    if proc.returncode == 0:  # finished before the signal came: nothing to check at this delay
        return
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_a_public_function_stays_a_function_after_its_module_is_imported():
    code = ("import acflow.export, acflow.run, acflow.sync, acflow.preview, acflow; "
            "print(acflow.export.__name__, acflow.run.__name__, acflow.sync.__name__, acflow.preview.__name__, "
            "acflow.validate.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["export", "run", "sync", "preview", "check"], result.stderr

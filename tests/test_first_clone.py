"""A new user's first ten minutes: the test command from a clone alone, and what `acflow demo` tells them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _clone_without_shared(tmp_path: Path) -> Path:
    """tests/ copied to tmp/repo/tests: ../shared of that copy does not exist."""
    tests = tmp_path / "repo" / "tests"
    tests.mkdir(parents=True)
    for name in ("conftest.py", "test_cli.py", "test_recorded_payloads.py", "test_sandbox_shapes.py"):
        shutil.copy(HERE / name, tests / name)
    return tests


def _pytest(tests: Path, *names: str, ci: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": "1"} if ci else {})
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                           *(str(tests / n) for n in names)], capture_output=True, text=True, env=env,
                          cwd=tests.parent, timeout=300)


def test_tests_that_need_shared_skip_from_a_clone_alone_with_one_line(tmp_path):
    tests = _clone_without_shared(tmp_path)
    result = _pytest(tests, "test_recorded_payloads.py", "test_sandbox_shapes.py", ci=False)
    assert result.returncode == 0, result.stdout[-3000:]
    reasons = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert any("test_recorded_payloads.py" in line and "needs" in line and "shared" in line for line in reasons)
    assert any("test_sandbox_shapes.py" in line for line in reasons)


def test_under_ci_a_missing_shared_folder_fails(tmp_path):
    tests = _clone_without_shared(tmp_path)
    result = _pytest(tests, "test_recorded_payloads.py", ci=True)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "test_recordings_are_there" in result.stdout and "failed" in result.stdout

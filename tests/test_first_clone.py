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


def _fresh_shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """`command` in a new shell whose PATH has no venv in it, as a new terminal's."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if not Path(p, "python").resolve().is_relative_to(Path(sys.prefix).resolve()))
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


def _demo(tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVECAMPAIGN_")}
    return subprocess.run([sys.executable, "-m", "acflow.cli", "demo", "--dir", "demo", "--contacts", "200"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)


def test_the_demos_hints_work_as_printed_and_it_keeps_an_edited_file(tmp_path):
    result = _demo(tmp_path)
    assert result.returncode == 0, result.stderr
    hints = [line[4:] for line in result.stdout.splitlines() if line.startswith("  $ ")]
    assert len(hints) == 2, result.stdout
    looked = _fresh_shell(hints[1], tmp_path)
    assert looked.returncode == 0, looked.stderr
    assert "status_label" in looked.stdout and "won" in looked.stdout

    config = tmp_path / "demo" / "acflow.yaml"
    edited = config.read_text().replace("to: out/forms.jsonl", "to: out/forms_edited.jsonl")
    config.write_text(edited)
    again = _fresh_shell(hints[0], tmp_path)  # `acflow demo` again, as printed
    assert again.returncode == 0, again.stderr
    assert config.read_text() == edited
    assert (tmp_path / "demo" / "out" / "forms_edited.jsonl").stat().st_size > 0
    assert f"Your edited {Path('demo') / 'acflow.yaml'} was used as it is" in again.stdout

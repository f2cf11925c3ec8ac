"""How the suite gets Prism: installed once with npm into the cache folder, and never skipped in CI.

npm is replaced by a script that makes a stand-in `prism` file, so nothing is downloaded here; the
session-level rules run in a separate pytest process on a one-test file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prism import PRISM_PACKAGE, PrismUnavailable, ensure_prism, prism_home
from tests.servers import REPO

FAKE_NPM = """#!/bin/sh
# Records the call, then installs a stand-in prism where the real npm would (or fails when told to).
echo "$*" >> "$NPM_CALLS"
while [ $# -gt 0 ]; do [ "$1" = --prefix ] && prefix=$2; shift; done
sleep 0.5
if [ -n "$NPM_FAIL" ]; then echo "npm error code E404 - Not found" >&2; exit 1; fi
mkdir -p "$prefix/node_modules/.bin" && printf '#!/bin/sh\\n' > "$prefix/node_modules/.bin/prism"
chmod +x "$prefix/node_modules/.bin/prism"
"""


def fake_npm_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "npm").write_text(FAKE_NPM)
    (bin_dir / "npm").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("PRISM_BIN", "CI")}
    env.update(PATH=f"{bin_dir}:/usr/bin:/bin", XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.update(NPM_CALLS=str(tmp_path / "calls"))
    env.update(extra)
    return env


def test_two_test_runs_at_once_install_prism_once(tmp_path: Path) -> None:
    env = fake_npm_env(tmp_path, PYTHONPATH=str(REPO))
    code = "from tests.prism import ensure_prism; print(ensure_prism())"
    runs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True) for _ in "ab"]
    outputs = [run.communicate(timeout=60)[0].strip().splitlines()[-1] for run in runs]
    expected = str(tmp_path / "cache" / "xapi-mcp" / "prism-5.16.0" / "node_modules" / ".bin" / "prism")
    assert outputs == [expected, expected]
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 1 and calls[0].startswith("install") and calls[0].endswith(PRISM_PACKAGE)
    # A third run reuses the install without calling npm.
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, timeout=60)
    assert len((tmp_path / "calls").read_text().splitlines()) == 1


def test_a_failing_npm_is_reported_and_leaves_no_half_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in fake_npm_env(tmp_path, NPM_FAIL="1").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PRISM_BIN", raising=False)
    with pytest.raises(PrismUnavailable) as err:
        ensure_prism(announce=lambda line: None)
    assert f"`npm install {PRISM_PACKAGE}`" in str(err.value) and "E404" in str(err.value)
    assert "PRISM_BIN" in str(err.value)
    assert not prism_home().exists()  # the next run tries again instead of trusting a broken folder


def test_prism_bin_wins_and_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "my-prism"
    binary.write_text("")
    monkeypatch.setenv("PRISM_BIN", str(binary))
    assert ensure_prism() == str(binary)
    monkeypatch.setenv("PRISM_BIN", str(tmp_path / "nope"))
    with pytest.raises(PrismUnavailable, match="is not a file"):
        ensure_prism()


def run_session(tmp_path: Path, test_body: str, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest with the suite's Prism hooks on one conformance test; npm is not on PATH."""
    lines = ["import pytest", "@pytest.mark.conformance", "def test_judged():", f"    {test_body}"]
    (tmp_path / "test_one.py").write_text("\n".join([*lines, "def test_plain():", "    pass", ""]))
    clean = {k: v for k, v in os.environ.items() if k not in ("PRISM_BIN", "CI")}
    clean.update(PATH="/nonexistent", PYTHONPATH=str(REPO), XDG_CACHE_HOME=str(tmp_path / "cache"))
    clean.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", **env)  # hypothesis, anyio…: not needed, slow to load
    command = [sys.executable, "-m", "pytest", "-p", "tests.prism", "-p", "no:cacheprovider", "-q", "-rs"]
    command += ["-o", "markers=conformance: judged by Prism", "--rootdir", str(tmp_path), "test_one.py"]
    return subprocess.run(command, cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120)


def test_without_npm_locally_one_line_says_how_to_enable_them(tmp_path: Path) -> None:
    result = run_session(tmp_path, "pass")
    assert result.returncode == 0, result.stdout + result.stderr
    notes = [line for line in result.stdout.splitlines() if "Prism" in line]
    assert len(notes) == 1, result.stdout
    assert notes[0].startswith("1 Prism conformance tests not run: npm is not on PATH. To run them: install Node.js")
    assert "PRISM_BIN" in notes[0] and "1 passed, 1 deselected" in result.stdout


def test_without_prism_in_ci_the_session_fails(tmp_path: Path) -> None:
    result = run_session(tmp_path, "pass", CI="true")
    assert result.returncode != 0
    assert "CI must run the 1 Prism conformance tests, but: npm is not on PATH" in result.stderr + result.stdout


def test_a_conformance_test_that_skips_fails_the_session_in_ci(tmp_path: Path) -> None:
    stand_in = tmp_path / "prism"
    stand_in.write_text("")
    skipping = 'pytest.skip("judge unavailable")'
    judged = run_session(tmp_path, "pass", PRISM_BIN=str(stand_in), CI="true")
    assert judged.returncode == 0 and f"1 Prism conformance tests judged by {stand_in}" in judged.stdout
    local = run_session(tmp_path, skipping, PRISM_BIN=str(stand_in))
    assert local.returncode == 0 and "1 passed, 1 skipped" in local.stdout
    ci = run_session(tmp_path, skipping, PRISM_BIN=str(stand_in), CI="true")
    assert ci.returncode == 1, ci.stdout
    assert "FAILED: 1 Prism conformance tests were skipped under CI (first: test_one.py::test_judged)" in ci.stdout

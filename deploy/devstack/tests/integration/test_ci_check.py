"""In CI the session fails when no integration test ran or one was skipped (the plugin's check)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

UNIT_ONLY = "def test_unit():\n    pass\n"
WITH_INTEGRATION = "import pytest\n\n@pytest.mark.integration\ndef test_real():\n    pass\n"
SKIPPED_INTEGRATION = (
    "import pytest\n\n@pytest.mark.integration\ndef test_real():\n    pass\n\n"
    "@pytest.mark.integration\ndef test_skipped():\n    pytest.skip('no broker')\n"
)


def run_pytest(tmp_path: Path, source: str, ci: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(source)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    integration: real infrastructure\n")
    env = {name: value for name, value in os.environ.items() if name != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "flowmatic_devstack.pytest_plugin", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_ci_fails_a_run_without_integration_tests(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, UNIT_ONLY, ci=True)

    assert result.returncode == 1, result.stdout
    assert "CI: no integration test ran" in result.stdout


def test_ci_fails_a_run_with_a_skipped_integration_test(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, SKIPPED_INTEGRATION, ci=True)

    assert result.returncode == 1, result.stdout
    assert "CI: 1 integration test(s) skipped" in result.stdout


def test_ci_passes_when_integration_tests_ran(tmp_path: Path) -> None:
    assert run_pytest(tmp_path, WITH_INTEGRATION, ci=True).returncode == 0


def test_outside_ci_a_unit_only_run_passes(tmp_path: Path) -> None:
    assert run_pytest(tmp_path, UNIT_ONLY, ci=False).returncode == 0

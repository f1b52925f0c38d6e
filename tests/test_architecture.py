"""The layering contracts in .importlinter hold: audit imports no app, services no interface."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / ".importlinter")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


APPS = ("approvals", "agents", "audit", "escalations", "people", "policies", "qa", "sandbox")


def test_the_time_comes_from_the_one_clock():
    # Tests freeze `config.clock`; a module that asks Django or datetime for the time directly
    # would run on another clock.
    asking = [
        f"{path.relative_to(ROOT)}:{number}"
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "timezone.now()" in line or "datetime.now(" in line or "datetime.utcnow(" in line
    ]

    assert asking == []

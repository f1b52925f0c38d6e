"""The layering contracts in .importlinter hold, and they refuse the imports they are there to stop:
a lower app importing a higher one, providers knowing each other, a model importing a service."""

import copy
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
from importlinter.api import read_configuration
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"
CONTRACT_TYPES = {
    "forbidden": ForbiddenContract,
    "independence": IndependenceContract,
    "layers": LayersContract,
}


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--config", str(CONFIG)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def contracts():
    """The contracts of .importlinter by id, and the root packages they are about."""
    config = read_configuration(str(CONFIG))
    session = config["session_options"]
    by_id = {
        options["id"]: CONTRACT_TYPES[options["type"]](
            name=options["name"], session_options=session, contract_options=options
        )
        for options in config["contracts_options"]
    }
    return by_id, session["root_packages"]


@pytest.fixture(scope="module")
def graph(contracts):
    _, roots = contracts
    return grimp.build_graph(*roots, cache_dir=None)


@pytest.mark.parametrize(
    ("importer", "imported", "contract"),
    [
        ("sandbox.services", "approvals.models", "app-layers"),
        ("policies.simulation", "approvals.models", "app-layers"),
        ("agents.services", "approvals.services", "app-layers"),
        ("agents.services", "sandbox.services", "providers-independent"),
        ("people.roles", "audit.services", "people-imports-no-app"),
        ("audit.services", "people.roles", "audit-imports-no-app"),
        ("execution.registry", "sandbox.services", "execution-imports-no-app"),
        ("config.errors", "approvals.models", "config-foundations-import-no-app"),
        ("config.outbound", "notifications.models", "config-foundations-import-no-app"),
        ("notifications.services", "approvals.rulebook", "app-layers"),
        ("notifications.selectors", "policies.models", "providers-independent"),
        ("approvals.services.execution", "sandbox.executors", "executors-through-registry"),
        ("approvals.models", "approvals.selectors", "approvals-layers"),
        ("approvals.rulebook", "approvals.presenters", "approvals-layers"),
        ("approvals.services.kernel", "approvals.views", "approvals-layers"),
        ("approvals.views", "approvals.api.views", "approvals-layers"),
    ],
)
def test_a_contract_refuses_the_import_it_is_there_to_stop(
    contracts, graph, importer, imported, contract
):
    by_id, _ = contracts
    with_the_import = copy.deepcopy(graph)
    with_the_import.add_import(importer=importer, imported=imported)

    kept_before = by_id[contract].check(copy.deepcopy(graph), verbose=False).kept
    kept_after = by_id[contract].check(with_the_import, verbose=False).kept

    assert (kept_before, kept_after) == (True, False)


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

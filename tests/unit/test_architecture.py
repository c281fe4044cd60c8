"""The rules of docs/architecture.md that a reading of the code can check."""

from __future__ import annotations

import ast
from pathlib import Path

import portal
import portal.web

PORTAL = Path(portal.__file__).parent
WEB = Path(portal.web.__file__).parent
# Each CLI command imports what it needs when it runs, so that `portal --help` starts fast.
LAZY_IMPORTS = {"cli.py"}
# The log explorer signs a checkpoint in a transaction of its own before the page reads it;
# published checkpoints (DESIGN §6) will take that out of the page.
OWN_TRANSACTIONS = {("audit_log.py", "session.commit")}


def _calls(path: Path) -> list[tuple[int, str]]:
    """Every ``x.name(...)`` call in a file, as (line, name)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            prefix = owner.id + "." if isinstance(owner, ast.Name) else ""
            found.append((node.lineno, prefix + node.func.attr))
    return found


def test_page_handlers_leave_the_commit_and_the_mail_to_the_wrapper() -> None:
    wrong = [f"{path.name}:{line}: {name}()"
             for path in sorted(WEB.glob("*.py")) if path.name != "core.py"
             for line, name in _calls(path)
             if (name.rpartition(".")[2] == "commit" or name in ("notify.send", "notify.deliver"))
             and (path.name, name) not in OWN_TRANSACTIONS]
    assert wrong == [], "the page wrapper commits and sends mail after it: " + ", ".join(wrong)


def test_the_rule_sees_a_commit(tmp_path: Path) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text("def save(request):\n    request.state.db.commit()\n")
    assert (2, "commit") in _calls(handler)


def _imports_inside_functions(path: Path) -> list[tuple[int, str]]:
    """Every ``import``/``from ... import`` of the portal inside a function body."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("portal"):
                    found.append((inner.lineno, inner.module or ""))
                elif isinstance(inner, ast.Import):
                    found += [(inner.lineno, a.name) for a in inner.names
                              if a.name.startswith("portal")]
    return found


def test_no_module_imports_the_portal_inside_a_function() -> None:
    """Imports inside functions are how import cycles hide; the layers (lint-imports) forbid
    cycles, and this keeps them from coming back unseen."""
    wrong = [f"{path.relative_to(PORTAL)}:{line}: {module}"
             for path in sorted(PORTAL.rglob("*.py")) if path.name not in LAZY_IMPORTS
             for line, module in _imports_inside_functions(path)]
    assert wrong == [], "import at the top of the module: " + ", ".join(wrong)


def test_the_import_rule_sees_an_import_in_a_method(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text("class A:\n    def f(self):\n        from portal.base import db\n")
    assert _imports_inside_functions(module) == [(3, "portal.base")]


# Who may write the record: the ledger's own writer, and the change pipeline that calls it
# (``tlog.append`` as other modules call the transparency log).
LEDGER_WRITERS = {
    "record_change": {"lifecycle/changes.py"},
    "move": {"lifecycle/changes.py"},
    "tlog.append": {"ledger/events.py"},
    "HistoryEntry": {"ledger/events.py"},
    "OutboxEvent": {"ledger/events.py"},
}


def _writes(path: Path) -> list[tuple[int, str]]:
    """Calls of the names in LEDGER_WRITERS (as ``f()`` or ``module.f()``) in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else None
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                    and f"{func.value.id}.{name}" in LEDGER_WRITERS:
                name = f"{func.value.id}.{name}"
            if name in LEDGER_WRITERS:
                found.append((node.lineno, name))
    return sorted(found)


def test_only_the_change_pipeline_writes_history_outbox_and_log_rows() -> None:
    """DESIGN §1: a status move, a history row, an outbox event or a log entry comes from
    portal.lifecycle.changes (which calls portal.ledger.events), never from elsewhere."""
    wrong = [f"{path.relative_to(PORTAL)}:{line}: {name}()"
             for path in sorted(PORTAL.rglob("*.py"))
             for line, name in _writes(path)
             if str(path.relative_to(PORTAL)) not in LEDGER_WRITERS[name]]
    assert wrong == [], "go through portal.lifecycle.changes: " + ", ".join(wrong)


def test_the_pipeline_rule_sees_a_history_row_written_by_hand(tmp_path: Path) -> None:
    service = tmp_path / "service.py"
    service.write_text("def act(session):\n    session.add(HistoryEntry(action='x'))\n"
                       "    events.record_change(session, action='y')\n")
    assert _writes(service) == [(2, "HistoryEntry"), (3, "record_change")]


# The owners of a unit of work that may commit (DESIGN §1: the request wrapper, the API
# pipeline, each CLI command and each job), each for the reason given. Services only flush.
TRANSACTION_OWNERS = {
    "web/core.py": "the page wrapper",
    "api/core.py": "the API pipeline",
    "cli.py": "each command",
    "ops/jobs.py": "scheduled jobs, one registration at a time",
    "ops/seed.py": "demo data, in batches",
    "ops/backup.py": "restore and its checks",
    "ops/migrate.py": "the registry rows filled after a migration",
    "privacy/retention.py": "the purge job, in batches",
    "privacy/data_keys.py": "the re-encryption job, in batches",
    "platforms/webhooks.py": "the delivery worker",
    "platforms/notify.py": "mail delivered after the change it announces committed",
    "oversight/exports.py": "an export's record, written when its stream ends",
    "api/log.py": "a checkpoint signed in a transaction of its own",
    "ledger/cosigning.py": "each cosignature kept in a transaction of its own, after the "
                           "witness's HTTP answer (no transaction waits on a witness)",
    "web/audit_log.py": "a checkpoint signed in a transaction of its own",
}


def test_services_flush_and_leave_commit_and_rollback_to_the_unit_of_work() -> None:
    wrong = [f"{path.relative_to(PORTAL)}:{line}: {name}()"
             for path in sorted(PORTAL.rglob("*.py"))
             if str(path.relative_to(PORTAL)) not in TRANSACTION_OWNERS
             and path.parent != WEB  # page handlers: the rule above, commits only
             for line, name in _calls(path)
             if name.rpartition(".")[2] in ("commit", "rollback")
             and not name.startswith("savepoint.")]
    assert wrong == [], "a service flushes; its caller commits: " + ", ".join(wrong)


def _private_uses(path: Path) -> list[tuple[int, str]]:
    """Private names of the portal a file imports or reaches through an imported module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("portal"):
            for alias in node.names:
                imported.add(alias.asname or alias.name)
                if alias.name.startswith("_"):
                    found.append((node.lineno, f"{node.module}.{alias.name}"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in imported and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
    return sorted(found)


def test_tests_use_what_the_portal_offers_not_its_private_names() -> None:
    tests = Path(__file__).parent.parent
    wrong = [f"{path.relative_to(tests)}:{line}: {name}"
             for path in sorted(tests.rglob("*.py"))
             for line, name in _private_uses(path)]
    assert wrong == [], "test through public names: " + ", ".join(wrong)


def test_the_private_name_rule_sees_both_ways_in(tmp_path: Path) -> None:
    test = tmp_path / "test_x.py"
    test.write_text("from portal.ledger import tlog\nfrom portal.base.forms import _CONTROL\n"
                    "tlog._cover(0, 1)\n")
    assert _private_uses(test) == [(2, "portal.base.forms._CONTROL"), (3, "tlog._cover")]


def test_test_folders_mirror_the_packages() -> None:
    """tests/unit/<package>/ holds the tests of portal/<package>; the tests at the top of
    tests/unit are those that cross packages (the route matrix, hostile input, two servers...)."""
    unit = Path(__file__).parent
    folders = {p.name for p in unit.iterdir() if p.is_dir() and p.name != "__pycache__"}
    packages = {p.name for p in PORTAL.iterdir() if (p / "__init__.py").exists()} | {"accounts"}
    assert folders and folders <= packages, sorted(folders - packages)
    assert all((unit / folder / "__init__.py").exists() for folder in folders)

"""Fuzzing harness: every public route of the real template on the local emulation, one emulation per session.

The moto server of the emulation runs in this process, so the harness watches its DynamoDB backend directly: every
item the backend is about to write is remembered with its content before (`WriteLog`), and after a request the
harness compares those items only (cheap, exact: a transaction that was rolled back leaves them equal).

Size: env ``FUZZ_CASES`` (default 2,000; ``make fuzz``: 10,000) is split evenly across the routes the template declares; ``FUZZ_SEED``
(default 0) makes the run reproducible. The per-route table is printed at the end of the session and written to
``<pytest basetemp>/fuzz-summary.txt`` (and to ``FUZZ_REPORT`` when set).
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crm_local import LocalCloud
from tests.integration.conftest import ROOT, START

DEFAULT_CASES = 2_000  # `make test`; `make fuzz` runs 10,000 (about 13,000 requests with the duplicates)


def total_cases() -> int:
    return int(os.environ.get("FUZZ_CASES", DEFAULT_CASES))


# --------------------------------------------------------------------------------------------- writes


class WriteLog:
    """Items the in-process moto DynamoDB backend was asked to write since `reset()`, with their content before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.before: dict[tuple[str, str], tuple[dict[str, Any], Any]] = {}
        self._patched: dict[str, Any] = {}
        self.backend: Any = None

    def install(self, backend: Any) -> None:
        from moto.dynamodb.models import DynamoDBBackend

        self.backend = backend
        log = self

        def wrap(name: str, key_of: Any) -> None:
            original = getattr(DynamoDBBackend, name)
            self._patched[name] = original

            def patched(backend_self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
                try:
                    key = key_of(backend_self, table_name, args[0] if args else next(iter(kwargs.values())))
                    log._remember(backend_self, table_name, key)
                except Exception:  # noqa: BLE001 - a malformed request: moto itself will refuse it
                    pass
                return original(backend_self, table_name, *args, **kwargs)

            setattr(DynamoDBBackend, name, patched)

        def key_of_item(backend_self: Any, table_name: str, attrs: dict[str, Any]) -> dict[str, Any]:
            table = backend_self.get_table(table_name)
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr:
                key[table.range_key_attr] = attrs[table.range_key_attr]
            return key

        wrap("put_item", key_of_item)
        wrap("update_item", lambda _b, _t, key: dict(key))
        wrap("delete_item", lambda _b, _t, key: dict(key))

    def uninstall(self) -> None:
        from moto.dynamodb.models import DynamoDBBackend

        for name, original in self._patched.items():
            setattr(DynamoDBBackend, name, original)
        self._patched.clear()

    def _remember(self, backend: Any, table_name: str, key: dict[str, Any]) -> None:
        ident = (table_name, repr(sorted(key.items())))
        with self._lock:
            if ident in self.before:
                return
            self.before[ident] = (key, self._content(backend, table_name, key))

    @staticmethod
    def _content(backend: Any, table_name: str, key: dict[str, Any]) -> Any:
        item = backend.get_item(table_name, key)
        return None if item is None else copy.deepcopy(item.to_json())

    def reset(self) -> None:
        with self._lock:
            self.before.clear()

    def changes(self, ignore_tables: set[str] = frozenset()) -> list[tuple[str, dict[str, Any]]]:
        """(table, key) of every remembered item whose content differs now (rate-limit `RATE*` items ignored)."""
        with self._lock:
            entries = list(self.before.items())
        changed = []
        for (table_name, _), (key, before) in entries:
            if table_name in ignore_tables:
                continue
            if any(isinstance(v, dict) and str(v.get("S", "")).startswith("RATE") for v in key.values()):
                continue
            if self._content(self.backend, table_name, key) != before:
                changed.append((table_name, key))
        return changed


# --------------------------------------------------------------------------------------------- statistics


@dataclass
class RouteStats:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


class FuzzStats:
    def __init__(self) -> None:
        self.routes: dict[str, RouteStats] = defaultdict(RouteStats)
        self.started = time.perf_counter()

    def record(self, route: str, kind: str, status: int) -> None:
        stats = self.routes[route]
        stats.cases += 1
        stats.statuses[status] += 1
        stats.kinds[kind] += 1

    def table(self) -> str:
        rows = [("route", "cases", "schema-valid", "2xx", "3xx", "4xx", "5xx", "statuses", "seconds")]
        total = RouteStats()
        for route in sorted(self.routes, key=lambda r: (r.split(" ", 1)[-1], r)):
            s = self.routes[route]
            by_class = Counter(f"{code // 100}xx" for code in s.statuses.elements())
            rows.append((route, str(s.cases), str(s.kinds["valid"]), str(by_class["2xx"]), str(by_class["3xx"]), str(by_class["4xx"]),
                         str(by_class["5xx"]), " ".join(f"{k}:{v}" for k, v in sorted(s.statuses.items())),
                         f"{s.seconds:.1f}"))
            total.cases += s.cases
            total.statuses.update(s.statuses)
            total.kinds.update(s.kinds)
            total.seconds += s.seconds
        by_class = Counter(f"{code // 100}xx" for code in total.statuses.elements())
        rows.append(("TOTAL", str(total.cases), str(total.kinds["valid"]), str(by_class["2xx"]), str(by_class["3xx"]), str(by_class["4xx"]),
                     str(by_class["5xx"]), "", f"{total.seconds:.1f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return "\n".join(lines)


_STATS = FuzzStats()


@pytest.fixture(scope="session")
def fuzz_stats() -> FuzzStats:
    return _STATS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _STATS.routes:
        return
    text = _STATS.table()
    terminalreporter.write_sep("=", f"fuzzing: {sum(s.cases for s in _STATS.routes.values())} cases")
    terminalreporter.write_line(text)
    config = terminalreporter.config
    paths = [Path(str(config._tmp_path_factory.getbasetemp())) / "fuzz-summary.txt"] \
        if hasattr(config, "_tmp_path_factory") else []
    if os.environ.get("FUZZ_REPORT"):
        paths.append(Path(os.environ["FUZZ_REPORT"]))
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        terminalreporter.write_line(f"fuzz summary written to {path}")


# --------------------------------------------------------------------------------------------- the emulation


@pytest.fixture(scope="session")
def fuzz_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    out = tmp_path_factory.mktemp("fuzz")
    with LocalCloud(template=str(ROOT / "template.yaml"), start=START, out_dir=out / "out", quiet=True,
                    function_log=out / "functions.log") as cloud:
        yield cloud


@pytest.fixture(scope="session")
def write_log(fuzz_cloud: LocalCloud) -> Iterator[WriteLog]:
    from moto.dynamodb.models import dynamodb_backends

    log = WriteLog()
    log.install(dynamodb_backends[fuzz_cloud.account_id][fuzz_cloud.region])
    yield log
    log.uninstall()

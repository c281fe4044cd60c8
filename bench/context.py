"""What the suites share: a seeded data dir (cached between runs), a platform key, and servers.

Everything is made lazily, on first use, so a suite that needs none of it (``passwords``) starts
at once, and a run of several suites seeds, copies and starts ``portal serve`` only once.

* ``ctx.data_dir``: a private copy, under the run's temp dir, of a data dir seeded by
  ``portal seed --registrations N`` (the real CLI, in a subprocess). The seeded original is kept
  in ``bench/.cache/seed-<N>-<migration head>/`` so later runs do not seed again.
* ``ctx.db_path``, ``ctx.numbers`` (the registry's numbers, shuffled), ``ctx.platform_key``
  (``portal create-platform``, in the copy).
* ``ctx.server_url`` / ``ctx.server_pid``: ``portal serve`` on a free port, one worker, against
  the copy, as a user starts it; stopped by ``ctx.close()``.
* ``ctx.database_url`` (``BENCH_DATABASE_URL``, a PostgreSQL database of the benchmark's own:
  it is emptied): when set, the same seed copied into it (bench/postgres.py), with
  ``ctx.pg_platform_key`` and ``ctx.start_portal(..., postgres=True)``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portal.base.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
DEFAULT_REGISTRATIONS = 100_000
SEED = 1  # the same people and mix of states on every machine
# Per-key requests the benchmark server allows: far above what one process can serve, so the
# load test measures answers, not 429s (the default is 600/minute).
RATE_LIMIT = "100000000/minute"


def log(message: str) -> None:
    """Progress goes to stderr; the table (or JSON) alone goes to stdout."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def migration_head() -> str:
    from alembic.script import ScriptDirectory

    from portal.ops.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or "base"


def prune_cache(head: str, registrations: int) -> None:
    """Drop cached databases made for another migration head: no run can use them again. A
    seed of another size is kept: a run with that size migrates it (``portal migrate``)
    instead of seeding again."""
    if not CACHE.is_dir():
        return
    for entry in CACHE.iterdir():
        if entry.name.startswith("seed-") and not entry.name.startswith(f"seed-{registrations}-"):
            continue
        if entry.is_dir() and not entry.name.startswith(".") and head not in entry.name.split("-"):
            log(f"removing {entry} (made before migration {head})")
            shutil.rmtree(entry, ignore_errors=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def portal_command() -> list[str]:
    """The installed ``portal`` command of this environment."""
    script = Path(sys.executable).with_name("portal")
    return [str(script)] if script.exists() else [sys.executable, "-m", "portal.cli"]


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any PORTAL_ setting of the caller's, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(extra)
    return env


@dataclass
class Server:
    """A server in a subprocess, its output in a log file; stopped like Ctrl-C would."""

    name: str
    command: list[str]
    env: Mapping[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, *, ready_path: str = "/healthz", timeout: float = 120.0) -> None:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 (our own commands)
            self.command, env=dict(self.env), cwd=ROOT, stdout=self._log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; "
                                   f"its output: {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s: {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class Context:
    """Shared by every suite's ``run(ctx)``. ``registrations`` is N, the seeded size."""

    registrations: int = DEFAULT_REGISTRATIONS
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="portal-bench-")))
    keep: bool = False
    # Notes on how the data was prepared, for the output (seeding time, cache use).
    notes: dict[str, object] = field(default_factory=dict)
    _servers: list[Server] = field(default_factory=list)
    # A PostgreSQL database the benchmarks may empty and fill (BENCH_DATABASE_URL), or "".
    database_url: str = field(default_factory=lambda: os.environ.get("BENCH_DATABASE_URL", ""))

    # --- data ---------------------------------------------------------------------------------

    def seeded_source(self, registrations: int) -> Path:
        """The cached data dir seeded with ``registrations`` (seeded now when missing)."""
        head = migration_head()
        target = CACHE / f"seed-{registrations}-{head}"
        if not (target / "portal.db").exists():
            self._migrate_older_seed(registrations, target)
        prune_cache(head, registrations)
        if (target / "portal.db").exists():
            log(f"seeded data dir for N={registrations:,} from the cache: {target}")
            self.notes.setdefault("seeding", f"cached ({target.name})")
            return target
        CACHE.mkdir(parents=True, exist_ok=True)
        building = CACHE / f".building-{registrations}-{head}-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        log(f"seeding {registrations:,} registrations (portal seed, once; cached in {target})")
        started = time.monotonic()
        subprocess.run(  # noqa: S603
            [*portal_command(), "seed", "--registrations", str(registrations),
             "--seed", str(SEED)],
            env=clean_environ(PORTAL_DATA_DIR=str(building)), cwd=ROOT, check=True,
            stdout=sys.stderr)
        seconds = time.monotonic() - started
        for stale in building.glob("portal.db-*"):  # WAL and shared memory: none once closed
            stale.unlink()
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)
        rate = registrations / seconds if seconds else 0.0
        log(f"seeded {registrations:,} registrations in {seconds:.0f} s ({rate:.0f}/s)")
        self.notes["seeding"] = f"seeded in {seconds:.0f} s ({rate:.0f}/s)"
        return target

    def _migrate_older_seed(self, registrations: int, target: Path) -> None:
        """A seed cached before the newest migrations, brought up to date with ``portal
        migrate`` (seconds) instead of seeded again (minutes to hours)."""
        older = sorted((d for d in CACHE.glob(f"seed-{registrations}-*")
                        if (d / "portal.db").exists()), key=lambda d: d.name)
        if not older:
            return
        source = older[-1]
        building = CACHE / f".migrating-{target.name}-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        log(f"migrating the cached {source.name} to {target.name}")
        shutil.copytree(source, building)
        subprocess.run(  # noqa: S603
            [*portal_command(), "migrate"], env=clean_environ(PORTAL_DATA_DIR=str(building)),
            cwd=ROOT, check=True, stdout=sys.stderr)
        for stale in building.glob("portal.db-*"):
            stale.unlink()
        building.rename(target)
        self.notes["seeding"] = f"cached ({source.name}, migrated to {target.name})"

    @cached_property
    def data_dir(self) -> Path:
        """This run's own copy of the seeded data dir (servers and suites may write to it)."""
        source = self.seeded_source(self.registrations)
        copy = self.work / "data"
        started = time.monotonic()
        shutil.copytree(source, copy)
        log(f"copied the seeded data dir in {time.monotonic() - started:.1f} s: {copy}")
        return copy

    @property
    def db_path(self) -> Path:
        return self.data_dir / "portal.db"

    def settings(self, **overrides: Any) -> Settings:
        """Settings for in-process use of the copy (no scheduled jobs or webhook rounds)."""
        from portal.base.settings import Settings

        values: dict[str, Any] = {"data_dir": self.data_dir, "jobs_interval_seconds": 0,
                                     "webhook_interval_seconds": 0, "rate_limit": RATE_LIMIT}
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    @cached_property
    def numbers(self) -> list[str]:
        """Every registration number in the registry, in a fixed random order."""
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as conn:
            numbers = [row[0] for row in conn.execute("SELECT number FROM registry ORDER BY 1")]
        random.Random(SEED).shuffle(numbers)
        if not numbers:
            raise RuntimeError(f"the registry of {self.db_path} is empty")
        return numbers

    @cached_property
    def platform_key(self) -> str:
        """A new platform client's API key (``portal create-platform``), in this run's copy."""
        done = subprocess.run(  # noqa: S603
            [*portal_command(), "create-platform", "Benchmark platform"],
            env=clean_environ(PORTAL_DATA_DIR=str(self.data_dir)), cwd=ROOT, check=True,
            capture_output=True, text=True)
        return done.stdout.strip().splitlines()[-1]

    @cached_property
    def postgres_url(self) -> str:
        """``database_url`` holding this run's seed (copied once; see bench/postgres.py)."""
        from bench.postgres import copy_seed

        if not self.database_url:
            raise RuntimeError("BENCH_DATABASE_URL is not set")
        source = self.seeded_source(self.registrations)
        self.notes["postgresql"] = copy_seed(source / "portal.db", self.database_url,
                                             source.name)
        return self.database_url

    @cached_property
    def pg_platform_key(self) -> str:
        """A new platform client's API key in the PostgreSQL copy (a name of its own per run:
        the copy is kept between runs)."""
        done = subprocess.run(  # noqa: S603
            [*portal_command(), "create-platform", f"Benchmark platform {os.getpid()}-"
             f"{time.time_ns()}"],
            env=clean_environ(PORTAL_DATA_DIR=str(self.data_dir),
                              PORTAL_DATABASE_URL=self.postgres_url),
            cwd=ROOT, check=True, capture_output=True, text=True)
        return done.stdout.strip().splitlines()[-1]

    # --- servers ------------------------------------------------------------------------------

    def server_env(self, *, postgres: bool = False, **extra: str) -> dict[str, str]:
        """``portal serve``'s environment: the copy, a rate limit no load reaches, and no
        scheduled jobs (they would run in the middle of a measurement); ``postgres``: the
        PostgreSQL copy instead of the SQLite one."""
        if postgres:
            extra = {"PORTAL_DATABASE_URL": self.postgres_url, **extra}
        return clean_environ(PORTAL_DATA_DIR=str(self.data_dir), PORTAL_RATE_LIMIT=RATE_LIMIT,
                             PORTAL_JOBS_INTERVAL_SECONDS="0",
                             PORTAL_WEBHOOK_INTERVAL_SECONDS="0", **extra)

    def start_portal(self, name: str, *, postgres: bool = False, workers: int = 1,
                     **extra: str) -> Server:
        """Another ``portal serve`` on a free port (``workers`` processes)."""
        port = free_port()
        if postgres:
            self.pg_platform_key  # noqa: B018
        else:
            self.platform_key  # noqa: B018
        return self.start_server(
            name, [*portal_command(), "serve", "--port", str(port), "--workers", str(workers)],
            self.server_env(postgres=postgres, **extra), port)

    def start_server(self, name: str, command: list[str], env: Mapping[str, str],
                     port: int, *, ready_path: str = "/healthz") -> Server:
        server = Server(name, command, env, port, self.work / f"{name}.log")
        log(f"starting {name} on port {port}")
        server.start(ready_path=ready_path)
        self._servers.append(server)
        return server

    @cached_property
    def server(self) -> Server:
        """``portal serve`` (one worker) on a free port against this run's copy."""
        port = free_port()
        self.platform_key  # noqa: B018  (made before the server opens the database)
        return self.start_server("portal", [*portal_command(), "serve", "--port", str(port)],
                                 self.server_env(), port)

    @property
    def server_url(self) -> str:
        return self.server.url

    @property
    def server_pid(self) -> int:
        return self.server.pid

    def close(self) -> None:
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        if self.keep:
            log(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

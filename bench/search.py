"""Auditor search and export at a million registrations (issue #10, row 5).

Seeding a million registrations through the services would take hours, so this suite loads
them in bulk: it copies the registry rows that ``portal seed`` made through the real services
(``ctx.seeded_source``), each copy with a fresh registration number and, for people with a
Chinese name, a fresh name (masked in the row as the services mask it), its search terms made
by ``portal.records.registry.terms`` — the function the services use. Only the tables that
search and export read are filled (``registry`` and ``registry_terms``); the copies point at no
registration record, so the record page of a copy would find none. Before measuring, a sample of
copies is read back through the normal read path (``auditing.search``, ``auditing.count``,
``registry.lookup`` and the export's rows) and compared with what was written.

Measured in-process (what the auditor's search page asks of the database: the first page and
the count, capped at 10,000): the p95 over a mix of searches by number, full name, surname,
brand, handle and filters. The export streams every row as CSV through ``exports.export_rows``
in a child process, whose peak RSS is read for a tenth of the rows and for all of them: flat
memory means the second is not ten times the first.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Result, p95
from bench.context import CACHE, ROOT, Context, log, migration_head

SUITE = "search"
ROWS = int(os.environ.get("BENCH_SEARCH_ROWS", "1000000"))
SAMPLE = 25

_COLUMNS = ("number", "registration_id", "status", "valid_until", "blocked", "document",
            "region", "subject_kind", "id_type", "roles", "risk_level", "flag_count",
            "display_name", "id_number_masked", "search_text", "submitted_at", "updated_at")


def _new_number(rng: random.Random, year: str, taken: set[str]) -> str:
    while True:
        number = f"LR-{year}-{rng.randrange(10**7):07d}"
        if number not in taken:
            taken.add(number)
            return number


def _is_chinese_name(name: str) -> bool:
    return 2 <= len(name) <= 4 and all("\u4e00" <= c <= "\u9fff" for c in name)


def build(source_db: Path, target_db: Path, rows: int) -> dict[str, object]:
    """Copy ``source_db`` to ``target_db`` and add registry rows until there are ``rows``."""
    from portal.base.crypto import mask_name
    from portal.ops import seed
    from portal.records import registry

    shutil.copyfile(source_db, target_db)
    conn = sqlite3.connect(target_db)  # foreign keys off: the copies have no registration
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    # Millions of terms land all over their index: keep it in memory while loading, and build
    # the index by number once at the end (it is the migration's, recreated as it was).
    conn.execute("PRAGMA cache_size=-1048576")
    conn.execute("DROP INDEX ix_registry_terms_number")
    columns = ", ".join(_COLUMNS)  # constants, not input
    templates = conn.execute(f"SELECT {columns} FROM registry").fetchall()  # noqa: S608
    if not templates:
        raise RuntimeError("the seeded database has no registry rows to copy")
    taken = {t[0] for t in templates}
    top_id = max(t[1] for t in templates)
    rng = random.Random(20261130)
    started = time.monotonic()
    made = 0
    batch: list[tuple[object, ...]] = []
    term_batch: list[tuple[str, str]] = []

    def flush() -> None:
        conn.executemany(f"INSERT INTO registry ({columns}) VALUES "  # noqa: S608
                         f"({', '.join('?' * len(_COLUMNS))})", batch)
        conn.executemany("INSERT INTO registry_terms (term, number) VALUES (?, ?)", term_batch)
        batch.clear()
        term_batch.clear()

    while len(taken) < rows:
        template = templates[made % len(templates)]
        values = dict(zip(_COLUMNS, template, strict=True))
        document = json.loads(values["document"])
        number = _new_number(rng, values["number"].split("-")[1], taken)
        document["number"] = number
        words = values["search_text"].split()
        subject = document.get("subject") or {}
        if values["subject_kind"] == "person" and words and _is_chinese_name(words[0]):
            name = seed._chinese_name(rng, male=rng.random() < 0.45)
            words[0] = name
            subject["display_name"] = mask_name(name)
            values["display_name"] = subject["display_name"]
        values.update(number=number, registration_id=top_id + made + 1,
                      document=json.dumps(document, ensure_ascii=False, separators=(",", ":")),
                      search_text=" ".join(words))
        batch.append(tuple(values[c] for c in _COLUMNS))
        term_batch.extend((term, number) for term in registry.terms(values["search_text"]))
        made += 1
        if len(batch) >= 20_000:
            flush()
            log(f"search: {len(taken):,} of {rows:,} registry rows")
    if batch:
        flush()
    conn.execute("CREATE INDEX ix_registry_terms_number ON registry_terms (number)")
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    return {"copied": made, "templates": len(templates),
            "seconds": round(time.monotonic() - started, 1)}


def dataset(ctx: Context) -> Path:
    """The data dir with ``ROWS`` registry rows (cached like the seeded one)."""
    source = ctx.seeded_source(ctx.registrations)
    target = CACHE / f"search-{ROWS}-from-{ctx.registrations}-{migration_head()}"
    if (target / "portal.db").exists():
        ctx.notes.setdefault("search data", f"cached ({target.name})")
        return target
    building = CACHE / f".building-search-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    shutil.copytree(source, building, ignore=shutil.ignore_patterns("portal.db*"))
    log(f"search: loading {ROWS:,} registry rows in bulk from {source.name}")
    info = build(source / "portal.db", building / "portal.db", ROWS)
    for stale in building.glob("portal.db-*"):
        stale.unlink()
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    ctx.notes["search data"] = (f"{info['copied']:,} copies of {info['templates']:,} seeded "
                                f"rows loaded in {info['seconds']} s")
    return target


def _check_sample(session: object, numbers: list[str]) -> None:
    """Copies read back through the normal read path say what was written."""
    from portal.oversight import auditing, exports
    from portal.records import registry

    for number in numbers:
        page = auditing.search(session, "national", auditing.Filters(q=number))  # type: ignore[arg-type]
        assert [e.number for e in page.items] == [number], number
        entry = page.items[0]
        answer = json.loads(registry.lookup(session.get_bind(), number)  # type: ignore[union-attr]
                            or b"{}")
        assert answer["number"] == number and answer["status"] == entry.status, number
        assert exports.export_row(entry)["number"] == number
        for word in entry.search_text.split()[:1]:
            found = auditing.search(session, "national",  # type: ignore[arg-type]
                                 auditing.Filters(q=word, status=entry.status, region=entry.region),
                                 limit=10_000)
            assert number in [e.number for e in found.items], (number, word)


def _queries(conn: sqlite3.Connection, rng: random.Random) -> list[dict[str, str]]:
    people = [r[0].split()[0] for r in conn.execute(
        "SELECT search_text FROM registry WHERE subject_kind = 'person' "
        "ORDER BY random() LIMIT 200")]
    organisations = [r[0] for r in conn.execute(
        "SELECT display_name FROM registry WHERE subject_kind = 'organization' "
        "ORDER BY random() LIMIT 50")]
    handles = [w for (text,) in conn.execute(
        "SELECT search_text FROM registry ORDER BY random() LIMIT 200")
        for w in text.split()[1:] if w.isascii() and not w.isdigit()]
    numbers = [r[0] for r in conn.execute("SELECT number FROM registry ORDER BY random() "
                                          "LIMIT 50")]
    brands = [name[2:4] for name in organisations if len(name) > 6]
    mix: list[dict[str, str]] = []
    for _ in range(20):
        mix += [
            {"q": rng.choice(numbers)},
            {"q": rng.choice(people)},
            {"q": rng.choice(people)[:1]},  # a surname alone
            {"q": rng.choice(people), "status": "approved"},
            {"q": rng.choice(brands or people)},
            {"q": rng.choice(handles or people)[:6]},
            {"status": rng.choice(("suspended", "revoked", "submitted"))},
            {"region": rng.choice(("33", "44", "11")), "status": "approved"},
            {"risk_level": "high"},
            {"role": rng.choice(("mcn", "merchant"))},
            {"flagged": "yes", "region": rng.choice(("32", "37"))},
            {"q": rng.choice(people)[:1], "region": rng.choice(("33", "44"))},
        ]
    return mix


def _filters(values: dict[str, str]):  # type: ignore[no-untyped-def]
    from portal.oversight import auditing

    return auditing.Filters(q=values.get("q", ""), status=values.get("status", ""),
                         risk_level=values.get("risk_level", ""), role=values.get("role", ""),
                         region=values.get("region", ""),
                         flagged=values.get("flagged") == "yes")


_EXPORT = """
import json, resource, sys, time
from portal.oversight import auditing, exports
from portal.base.db import make_engine
engine = make_engine(sys.argv[1])
filters = auditing.Filters(region=sys.argv[2])
started = time.perf_counter()
rows = -1
size = 0
for chunk in exports.export_rows(engine, "national", filters, "csv", logged={}):
    rows += chunk.count("\\n")
    size += len(chunk)
seconds = time.perf_counter() - started
print(json.dumps({"rows": rows, "seconds": seconds, "bytes": size,
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _export(db: Path, region: str) -> dict[str, float]:
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _EXPORT, f"sqlite:///{db}", region], cwd=ROOT, check=True,
        capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run(ctx: Context) -> list[Result]:
    from sqlmodel import Session

    from portal.base.db import make_engine
    from portal.oversight import auditing

    data = dataset(ctx)
    work = ctx.work / "search"
    shutil.copytree(data, work)
    db = work / "portal.db"
    engine = make_engine(f"sqlite:///{db}")
    rng = random.Random(7)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        total = conn.execute("SELECT count(*) FROM registry").fetchone()[0]
        mix = _queries(conn, rng)
        sample = [r[0] for r in conn.execute(
            "SELECT number FROM registry WHERE registration_id > "
            "(SELECT max(id) FROM registrations) ORDER BY random() LIMIT ?", (SAMPLE,))]
    samples: list[float] = []
    with Session(engine) as session:
        _check_sample(session, sample)
        for values in mix[:12]:  # warm the cache as a server that has been running would
            auditing.search(session, "national", _filters(values))
        for values in mix:
            filters = _filters(values)
            started = time.perf_counter()  # what the search page does
            found = auditing.count(session, "national", filters, cap=auditing.COUNT_CAP)
            auditing.search(session, "national", filters, many=found > auditing.COUNT_CAP)
            samples.append((time.perf_counter() - started) * 1000)
            session.expunge_all()
    engine.dispose()
    tenth = _export(db, "33")  # Zhejiang: about a tenth of the rows
    whole = _export(db, "")
    note = f"{total:,} rows; {len(mix)} searches; sample of {len(sample)} copies checked"
    return [
        Result("Auditor search (page + count), p95", p95(samples), "ms", target=100,
               note=note, suite=SUITE),
        Result("CSV export rate", whole["rows"] / whole["seconds"], "rows/s", target=50_000,
               higher_is_better=True, note=f"{whole['rows']:,} rows, "
               f"{whole['bytes'] / 1e6:.0f} MB", suite=SUITE),
        Result("CSV export peak RSS, all rows", whole["peak_kb"] / 1024, "MB",
               note=f"a tenth of the rows ({tenth['rows']:,}): "
               f"{tenth['peak_kb'] / 1024:.0f} MB", suite=SUITE),
        Result("CSV export memory, all rows / a tenth", whole["peak_kb"] / tenth["peak_kb"],
               "×", target=1.5, note="flat memory: the whole export costs what a tenth does",
               suite=SUITE),
    ]

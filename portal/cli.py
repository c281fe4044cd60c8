"""The ``portal`` command."""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import Engine

from portal.base.settings import Settings, SettingsError, get_settings

DEMO_STAFF = (
    ("moderator@example.com", "moderator"),
    ("auditor@example.com", "auditor"),
    ("admin@example.com", "admin"),
)


def _engine(settings: Settings) -> Engine:
    from portal.base.db import make_engine
    from portal.ops import schema  # noqa: F401  (every table, for the foreign keys a flush follows)

    return make_engine(settings.resolved_database_url)


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from portal.ops.migrate import upgrade

    upgrade(settings)
    print(f"Database is up to date: {_display_url(settings.resolved_database_url)}")
    return 0


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> int:
    from portal import accounts
    from portal.base.db import session_scope
    from portal.base.errors import FormErrors
    from portal.base.jurisdictions import normalise_jurisdiction
    from portal.ops.migrate import upgrade

    try:
        jurisdiction = normalise_jurisdiction(args.jurisdiction)
    except FormErrors as exc:
        for field, message in exc.errors.items():
            print(f"{field}: {message}", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    upgrade(settings)
    engine = _engine(settings)
    try:
        # A write from its first statement (BEGIN IMMEDIATE on SQLite): a running server's
        # writes then make it wait its turn instead of failing as "database is locked".
        with session_scope(engine, write=True) as session:
            user = accounts.create_user(
                session, email=args.email, password=password, role=accounts.Role(args.role)
            )
            user.jurisdiction = jurisdiction
            session.commit()
    except FormErrors as exc:
        for field, message in exc.errors.items():
            print(f"{field}: {message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    scope = f" (jurisdiction: {user.jurisdiction})" if user.role == "auditor" else ""
    print(f"Created {user.role} {user.email}{scope}")
    return 0


def cmd_create_client(settings: Settings, args: argparse.Namespace) -> int:
    """create-platform / create-authority: a client and its first key, printed once."""
    from portal.base.db import session_scope
    from portal.base.errors import FormErrors
    from portal.ops.migrate import upgrade
    from portal.platforms.onboarding import new_client

    kind = "authority" if args.command == "create-authority" else "platform"
    jurisdiction = "national"
    if kind == "authority":
        jurisdiction = ",".join(args.region) if args.region else args.jurisdiction
    upgrade(settings)
    engine = _engine(settings)
    try:
        with session_scope(engine, write=True) as session:
            client, key, secret = new_client(
                session, settings, name=args.name, kind=kind, jurisdiction=jurisdiction,
                webhook_url=getattr(args, "webhook_url", None) or "")
            session.commit()
    except FormErrors as exc:
        print("portal: " + "; ".join(f"{field}: {message}"
                                     for field, message in exc.errors.items()), file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    scope = f", jurisdiction {client.jurisdiction}" if kind == "authority" else ""
    print(f"Created {kind} client {client.name} (id {client.id}{scope}).")
    print("Store what follows now, securely: it is shown only this time and cannot be shown "
          "again." + (" The webhook signing secret, then the API key:" if secret
                      else " The API key:"))
    if secret:
        print(secret)
    print(key)
    return 0


def seed_demo_staff(settings: Settings) -> list[tuple[str, str, str]]:
    """Create the demo staff accounts once; their passwords are kept in the data dir."""
    from portal import accounts
    from portal.base.db import session_scope

    store = settings.data_dir / "demo-logins.txt"
    known: dict[str, str] = {}
    if store.exists():
        for line in store.read_text().splitlines():
            email, _, password = line.partition(" ")
            known[email] = password
    logins = []
    engine = _engine(settings)
    try:
        with session_scope(engine, write=True) as session:
            for email, role in DEMO_STAFF:
                user = accounts.find_user_by_email(session, email)
                password = known.get(email) or f"demo-{role}-{secrets.token_urlsafe(9)}"
                if user is None:
                    accounts.create_user(
                        session, email=email, password=password, role=accounts.Role(role)
                    )
                elif email not in known:
                    accounts.set_password(session, user, password)
                known[email] = password
                logins.append((role, email, password))
            session.commit()
    finally:
        engine.dispose()
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("".join(f"{e} {p}\n" for e, p in known.items()))
    store.chmod(0o600)
    return logins


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from portal.ops.migrate import upgrade

    upgrade(settings)
    if args.demo:
        if settings.is_production:
            print("--demo is for development only", file=sys.stderr)
            return 2
        logins = seed_demo_staff(settings)
        print("Demo logins (development only):")
        for role, email, password in logins:
            print(f"  {role:<10} {email:<30} {password}")
    import os

    from portal.base.settings import served_address

    if not settings.is_production:
        # Development: the issuer and base URL are the address served, unless set; the workers
        # read them from the environment.
        address = served_address(args.host, args.port)
        for name in ("ISSUER", "BASE_URL"):
            if not os.environ.get(f"PORTAL_{name}"):
                os.environ[f"PORTAL_{name}"] = address
    for name in ("secret_key", "data_key", "index_key"):
        settings.secret(name)  # generate now, before several workers race for it
    print(f"Serving on http://{args.host}:{args.port}", flush=True)
    from portal.web.access_log import log_config

    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        server_header=False,
        log_level="info",
        log_config=log_config(),
    )
    return 0


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    from portal.ops import jobs

    engine = _engine(settings)
    try:
        report = jobs.run(engine, settings)
    finally:
        engine.dispose()
    print(f"Jobs done: {report}")
    return 0


def cmd_webhooks(settings: Settings, args: argparse.Namespace) -> int:
    from portal.platforms import webhooks

    engine = _engine(settings)
    try:
        report = webhooks.run(engine, settings)
    finally:
        engine.dispose()
    print(f"Webhooks done: {report}")
    return 0


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    from portal.base.db import session_scope
    from portal.lifecycle import changes
    from portal.ops.migrate import upgrade
    from portal.records import certificates

    if args.keys_command == "new-data-key":
        return cmd_new_data_key(settings, args)
    if args.data or args.dry_run:
        if args.keys_command != "rotate" or not args.data:
            print("--data and --dry-run go with: portal keys rotate --data", file=sys.stderr)
            return 2
        return cmd_rotate_data(settings, args)
    upgrade(settings)
    engine = _engine(settings)
    try:
        with session_scope(engine, write=True) as session:
            if args.keys_command == "rotate":
                kid, path = changes.rotate_signing_key(session, settings)
                session.commit()
                print(f"New signing key {kid} written to {path}")
                if settings.is_production:
                    print("Set PORTAL_SIGNING_KEY to that file and restart the servers.")
            else:
                certificates.ensure_registered(session, settings)
                session.commit()
                for key in certificates.public_keys(session):
                    print(f"{key['kid']}  {key['status']:<8} {key['created_at']}")
    finally:
        engine.dispose()
    return 0


def cmd_new_data_key(settings: Settings, args: argparse.Namespace) -> int:
    from portal.privacy import data_keys

    print(data_keys.new_data_key())
    print("Set it as PORTAL_DATA_KEY and move the current key to PORTAL_OLD_DATA_KEYS on every "
          "process, restart them, then run: portal keys rotate --data", file=sys.stderr)
    return 0


def cmd_rotate_data(settings: Settings, args: argparse.Namespace) -> int:
    """Re-encrypt every stored ciphertext under PORTAL_DATA_KEY, a batch at a time."""
    from portal.ops.migrate import upgrade
    from portal.privacy import data_keys

    if args.batch_size < 1:
        print("--batch-size must be 1 or more", file=sys.stderr)
        return 2
    upgrade(settings)
    engine = _engine(settings)
    try:
        report = data_keys.rotate(engine, settings, dry_run=args.dry_run,
                                  batch_size=args.batch_size,
                                  progress=lambda line: print(line, flush=True))
    finally:
        engine.dispose()
    for failure in report.failures:
        print(f"cannot re-encrypt {failure}", file=sys.stderr)
    if report.dry_run:
        print(f"Dry run: {report.values} values in {report.rows_changed} rows would be "
              "re-encrypted under the current data key; nothing was changed.")
    else:
        print(f"Re-encrypted {report.values} values in {report.rows_changed} rows under the "
              "current data key.")
    if report.failures:
        print(f"{len(report.failures)} rows hold values that no configured key opens (listed "
              "above): add their key to PORTAL_OLD_DATA_KEYS and run again.", file=sys.stderr)
        return 1
    return 0


def cmd_retention(settings: Settings, args: argparse.Namespace) -> int:
    """Erase the personal data of registrations that ended PORTAL_RETENTION_YEARS ago."""
    from portal.ops.migrate import upgrade
    from portal.privacy import retention

    upgrade(settings)
    engine = _engine(settings)
    try:
        report = retention.purge(engine, settings, dry_run=args.dry_run,
                                 progress=lambda line: print(line, flush=True))
    finally:
        engine.dispose()
    for number in report.registrations:
        print(("would purge " if report.dry_run else "purged ") + number)
    print(("Dry run, nothing changed: " if report.dry_run else "Done: ") + str(report))
    return 0


def cmd_verify_certificate(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from portal.records import verifier

    if not args.keys and not args.issuer:
        print(f"portal verify-certificate: {verifier.UNPINNED}", file=sys.stderr)
        return 2
    keys: list[dict[str, object]] = []
    certificate: dict[str, object] = {}
    try:
        certificate = json.loads(Path(args.file).read_text())
        if not isinstance(certificate, dict):
            raise ValueError("the certificate is not a JSON object")
        # The issuer is checked before any key is fetched: a certificate naming another
        # issuer leads nowhere.
        verifier.check_issuer(certificate, args.issuer)
        keys = verifier.pinned_keys(args.keys, args.issuer)
        verifier.check_certificate(certificate, keys)
        where = ""
        if args.log:
            where = f", log entry {verifier.check_log(certificate, keys, args.log)}"
    except verifier.Invalid as exc:
        print(f"invalid: {exc}")
        # What a genuine certificate states about sanctions explains why it no longer holds.
        if verifier.signed(certificate, keys):
            print("\n".join(verifier.stated_sanctions(certificate)))
        return 1
    except (OSError, ValueError, KeyError) as exc:
        print(f"invalid: could not read what was given: {exc}")
        return 1
    print(f"valid: {certificate['number']} is {certificate['status']} until "
          f"{certificate['valid_until']}{where}")
    print("\n".join(verifier.stated_sanctions(certificate)))
    return 0


def cmd_log_verify(settings: Settings, args: argparse.Namespace) -> int:
    from portal.records import verifier

    try:
        report = verifier.verify_log(args.url, Path(args.state), args.keys, issuer=args.issuer,
                                     witnesses=args.witness, min_witnesses=args.min_witnesses)
    except verifier.Unpinned as exc:
        print(f"portal log verify: {exc}", file=sys.stderr)
        return 2
    except verifier.Invalid as exc:
        print(f"invalid: {exc}")
        return 1
    checkpoint = report.checkpoint
    head = f"tree_size {checkpoint['tree_size']} root {checkpoint['root_hash']}"
    if report.witnessed:
        head += f", cosigned by {', '.join(report.witnessed)}"
    if report.previous_size is None:
        print(f"first checkpoint stored: {head} in {args.state}")
    else:
        print(f"consistent: {head} (was {report.previous_size})")
    return 0


def cmd_witness_keygen(_settings: Settings, args: argparse.Namespace) -> int:
    from portal.ledger import witness

    try:
        key = witness.create_key_file(Path(args.key), args.name)
    except FileExistsError:
        print(f"portal witness keygen: {args.key} exists; a witness keeps its key for good",
              file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"portal witness keygen: {exc}", file=sys.stderr)
        return 2
    print(key.vkey)
    return 0


def cmd_witness_serve(_settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from portal.api.witness_app import build_witness_app
    from portal.ledger import witness

    try:
        name, private = witness.load_key_file(Path(args.key))
        logs = [witness.parse_vkey(v) for v in args.log]
        served = witness.Witness(name, private, logs, Path(args.state))
    except ValueError as exc:
        print(f"portal witness serve: {exc}", file=sys.stderr)
        return 2
    print(f"Witness {name} ({served.key.vkey}) for {', '.join(k.name for k in logs)}, "
          f"serving on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(build_witness_app(served), host=args.host, port=args.port,
                server_header=False, log_level="info")
    return 0


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    from portal.ops import seed
    from portal.ops.migrate import upgrade

    if settings.is_production:
        print("portal seed makes synthetic registrations: not in production", file=sys.stderr)
        return 2
    if args.registrations < 0 or args.batch_size < 1:
        print("--registrations must be 0 or more and --batch-size 1 or more", file=sys.stderr)
        return 2
    upgrade(settings)
    engine = _engine(settings)
    try:
        report = seed.seed(engine, settings, registrations=args.registrations, seed=args.seed,
                           batch_size=args.batch_size, progress=True)
    finally:
        engine.dispose()
    mix = ", ".join(f"{status} {n}" for status, n in report.statuses.most_common())
    rate = report.total / report.seconds if report.seconds else 0.0
    print(f"Seeded {report.total} registrations in {report.seconds:.1f} s ({rate:.0f}/s, "
          f"--seed {report.seed}): {mix or 'none'}")
    return 0


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """Copy the database to a file while the servers keep running (keys are not included)."""
    from portal.ops import backup

    try:
        result = backup.backup(settings, Path(args.dest))
    except backup.BackupError as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return 2
    print(f"Backed up {_display_url(settings.resolved_database_url)} to {result.path} "
          f"({result.kind}, {result.size} bytes, {result.seconds:.1f} s). Not included: the "
          "data, index and secret keys and the signing key: back them up separately.")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Restore a backup into an empty database, migrate it, then verify the whole record."""
    from portal.ops import backup

    try:
        result = backup.restore(settings, Path(args.src), force=args.force)
    except backup.BackupError as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return 2
    print(f"Restored {result.path} into {_display_url(settings.resolved_database_url)} "
          f"({result.seconds:.1f} s); verifying.", flush=True)
    engine = _engine(settings)
    try:
        report = backup.verify(engine, settings)
    finally:
        engine.dispose()
    for problem in report.problems:
        print(problem, file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal", description="Livestream Registration Portal")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then serve the portal")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--demo", action="store_true", help="create demo accounts and print them")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(func=cmd_migrate)

    create_user = sub.add_parser("create-user", help="create a staff account (password on stdin)")
    create_user.add_argument("--email", required=True)
    create_user.add_argument(
        "--role", required=True, choices=["moderator", "auditor", "admin"]
    )
    create_user.add_argument(
        "--jurisdiction", default="national",
        help='what an auditor reads: "national" (default) or region codes, e.g. 33 or 3301,44'
    )
    create_user.set_defaults(func=cmd_create_user)

    create_platform = sub.add_parser(
        "create-platform", help="add a livestream platform's API client; prints its key once")
    create_platform.add_argument("name")
    create_platform.add_argument("--webhook-url", help="where to post events (https://...); "
                                 "its signing secret is printed once too")
    create_platform.set_defaults(func=cmd_create_client)

    create_authority = sub.add_parser(
        "create-authority", help="add an authority's API client; prints its key once")
    create_authority.add_argument("name")
    where = create_authority.add_mutually_exclusive_group()
    where.add_argument("--jurisdiction", default="national",
                       help='"national" (the default) or GB/T 2260 region codes separated by '
                       'commas, e.g. 33,3301')
    where.add_argument("--region", action="append", metavar="CODE",
                       help="a region code it covers (repeatable); instead of --jurisdiction")
    create_authority.set_defaults(func=cmd_create_client)

    jobs = sub.add_parser("jobs", help="scheduled work (for cron; the server runs it too)")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    jobs_run = jobs_sub.add_parser("run", help="run every scheduled job once")
    jobs_run.set_defaults(func=cmd_jobs)

    hooks = sub.add_parser("webhooks", help="webhook deliveries (for cron; the server sends "
                           "them too, every PORTAL_WEBHOOK_INTERVAL_SECONDS)")
    hooks_sub = hooks.add_subparsers(dest="webhooks_command", required=True)
    hooks_run = hooks_sub.add_parser("run", help="queue new events and send every delivery "
                                     "that is due, once")
    hooks_run.set_defaults(func=cmd_webhooks)

    keys = sub.add_parser("keys", help="signing keys: list them, or rotate to a new one; "
                          "--data: re-encrypt stored data under PORTAL_DATA_KEY")
    keys.add_argument("keys_command", choices=["list", "rotate", "new-data-key"])
    keys.add_argument("--data", action="store_true",
                      help="with rotate: re-encrypt every ciphertext still under a key of "
                      "PORTAL_OLD_DATA_KEYS with PORTAL_DATA_KEY (the signing key is left alone)")
    keys.add_argument("--dry-run", action="store_true",
                      help="with rotate --data: count what would be re-encrypted, change nothing")
    keys.add_argument("--batch-size", type=int, default=200,
                      help="with rotate --data: rows per transaction (default 200)")
    keys.set_defaults(func=cmd_keys)

    retention = sub.add_parser("retention", help="erase personal data kept past its time")
    retention_sub = retention.add_subparsers(dest="retention_command", required=True)
    purge = retention_sub.add_parser(
        "purge", help="erase the personal data of registrations that ended more than "
        "PORTAL_RETENTION_YEARS (3) years ago; log entries and certificates stay")
    purge.add_argument("--dry-run", action="store_true",
                       help="list what would be purged, change nothing")
    purge.set_defaults(func=cmd_retention)

    verify = sub.add_parser("verify-certificate", help="check a certificate offline")
    verify.add_argument("file")
    verify.add_argument("--keys", metavar="FILE_OR_URL",
                        help="the issuer's portal-keys.json (JWKS), a file or URL you trust")
    verify.add_argument("--issuer", metavar="URL",
                        help="the issuer you trust, e.g. https://portal.example: its keys are "
                        "fetched from URL/.well-known/portal-keys.json and the certificate "
                        "must name it. One of --keys and --issuer is required: the keys are "
                        "never taken from the certificate itself")
    verify.add_argument("--log", help="the log's base URL, e.g. https://portal/api/v1/log")
    verify.set_defaults(func=cmd_verify_certificate)

    log = sub.add_parser("log", help="the transparency log, audited from outside")
    log_sub = log.add_subparsers(dest="log_command", required=True)
    log_verify = log_sub.add_parser(
        "verify", help="check the log's new checkpoint extends the one seen last time (for cron)",
        description="Fetch URL/checkpoint, check its signature with the keys you pinned "
        "(--keys, or --issuer, which the checkpoint's origin must name) and, when "
        "the state file holds an earlier checkpoint, that the log only grew since (an RFC 9162 "
        "consistency proof from the stored root to the new one); then store the new checkpoint "
        "there. Exit 0 when it checks out, 1 with 'invalid: <reason>' otherwise (the state file "
        "is then left as it was).")
    log_verify.add_argument("--url", required=True,
                            help="the log's base URL, e.g. https://portal/api/v1/log")
    log_verify.add_argument("--keys", metavar="FILE_OR_URL",
                            help="the issuer's portal-keys.json (JWKS), a file or URL you trust")
    log_verify.add_argument("--issuer", metavar="URL",
                            help="the issuer you trust: its keys are fetched from "
                            "URL/.well-known/portal-keys.json and the checkpoint's origin must "
                            "be URL. One of --keys and --issuer is required")
    log_verify.add_argument(
        "--state", default="portal-log-state.json",
        help="where the last good checkpoint is kept, as the log served it; created on the "
        "first run, replaced atomically (default: portal-log-state.json in the current "
        "directory; use one absolute path per log under cron)")
    log_verify.add_argument(
        "--witness", metavar="VKEY", action="append", default=[],
        help="a witness you trust, by its verifier key (C2SP tlog-cosignature, Ed25519); "
        "repeat for each")
    log_verify.add_argument(
        "--min-witnesses", metavar="K", type=int, default=None,
        help="how many of the --witness keys must have cosigned the checkpoint (default: 1 "
        "when --witness is given)")
    log_verify.set_defaults(func=cmd_log_verify)

    witness = sub.add_parser(
        "witness", help="a C2SP tlog-witness for the portal's log, for an authority to run")
    witness_sub = witness.add_subparsers(dest="witness_command", required=True)
    keygen = witness_sub.add_parser(
        "keygen", help="make the witness's key (kept for good) and print its verifier key",
        description="Write a new Ed25519 witness key named NAME to FILE (mode 0600; an "
        "existing file is never replaced) and print its verifier key, which the log's operator "
        "puts in PORTAL_WITNESSES and verifiers give to `portal log verify --witness`.")
    keygen.add_argument("--name", required=True,
                        help="the witness's name, a schema-less URL, e.g. witness.example.org/w1")
    keygen.add_argument("--key", required=True, metavar="FILE", help="where to keep the key")
    keygen.set_defaults(func=cmd_witness_keygen)
    witness_serve = witness_sub.add_parser(
        "serve", help="serve POST /add-checkpoint and GET /<origin hash>/checkpoint",
        description="Cosign checkpoints of the logs whose keys are given, each only when a "
        "consistency proof shows it extends the last one cosigned; refuse forks (same size, "
        "another root) and keep them as evidence beside the state file.")
    witness_serve.add_argument("--key", required=True, metavar="FILE",
                               help="the key file made by `portal witness keygen`")
    witness_serve.add_argument("--log", required=True, action="append", metavar="VKEY",
                               help="a log's verifier key, as served at <portal>/log/vkey; "
                               "repeat for each log")
    witness_serve.add_argument("--state", required=True, metavar="FILE",
                               help="where the last cosigned checkpoint of each log is kept")
    witness_serve.add_argument("--host", default="127.0.0.1")
    witness_serve.add_argument("--port", type=int, default=8100)
    witness_serve.set_defaults(func=cmd_witness_serve)

    seed = sub.add_parser("seed", help="add synthetic registrations (development and tests)")
    seed.add_argument("--registrations", type=int, required=True, metavar="N")
    seed.add_argument("--seed", type=int, help="random seed: the same seed, the same people")
    seed.add_argument("--batch-size", type=int, default=250,
                      help="registrations per transaction (default 250)")
    seed.set_defaults(func=cmd_seed)

    backup = sub.add_parser(
        "backup", help="copy the database to a file, consistently while the servers run",
        description="SQLite: an online backup to one file; PostgreSQL: pg_dump's custom format "
        "(pg_dump on PATH). The file is new (0600); the keys are not in it: back them up "
        "separately.")
    backup.add_argument("dest", help="the file to write, or a directory to write "
                        "portal-<UTC time>.sqlite3 or .pgdump into")
    backup.set_defaults(func=cmd_backup)

    restore = sub.add_parser(
        "restore", help="restore a backup into an empty database, then verify everything",
        description="Restore SRC (made by portal backup) into the database of "
        "PORTAL_DATABASE_URL, which must not have the portal's tables yet (exit 2), migrate it, "
        "then check the log recomputed from its entries, every signed checkpoint, every "
        "certificate and its log entry, every registration's integrity and that the configured "
        "data keys open every encrypted value. Exit 0 'verified: ...', 1 'invalid: ...'.")
    restore.add_argument("src", help="a backup file")
    restore.add_argument("--force", action="store_true",
                         help="replace the portal's tables when the database already has them")
    restore.set_defaults(func=cmd_restore)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
        settings.check_production()
        return int(args.func(settings, args))
    except SettingsError as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())


"""Run every benchmark and print one line per measurement (JSON with --json)."""

from __future__ import annotations

import argparse
import json
import sys

from bench import pages, passwords

SUITES = {"passwords": passwords.run, "pages": pages.run}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=f"any of {sorted(SUITES)}")
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    args = parser.parse_args(argv)
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(sorted(unknown))}")
    failed = False
    for name in args.suites or SUITES:
        for result in SUITES[name]():
            failed |= not result.ok
            print(json.dumps(result.as_dict()) if args.json else result.line(), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

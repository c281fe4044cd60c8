"""The server's log after every other browser test (this file's name makes it run last): no ID
number, phone number, password, API key, webhook secret or instance secret in it.

The ``server`` fixture is per session, so this reads the one log all the browser tests wrote to.
What the tests typed is found in their sources (string constants and names holding passwords),
and ID and phone numbers the tests compute (``make_resident_id``) by their shape: an 18-character
resident ID whose check character is right, an 11-digit mainland mobile number.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from portal.base import identity
from tests.e2e.conftest import Server

HERE = Path(__file__).resolve().parent
_BOUND = r"(?<![0-9A-Za-z])"
_END = r"(?![0-9A-Za-z])"
RESIDENT_ID = re.compile(_BOUND + r"\d{17}[\dX]" + _END)
MOBILE = re.compile(_BOUND + r"(?:\+?86[- ]?)?1[3-9]\d{9}" + _END)
KEY_MARKERS = ("lrp_", "whsec_")


def typed_in_tests() -> tuple[set[str], set[str]]:
    """(ID and phone numbers, passwords) written in the browser tests' sources."""
    numbers: set[str] = set()
    passwords: set[str] = set()
    for source in HERE.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                numbers.update(RESIDENT_ID.findall(node.value))
                numbers.update(m.group(0)[-11:] for m in MOBILE.finditer(node.value))
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                value = node.value
                if any("PASSWORD" in n.upper() for n in names) and isinstance(
                        value, ast.Constant) and isinstance(value.value, str):
                    passwords.add(value.value)
            # Passwords typed straight into a form: fill("...") right after a Password label.
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr == "fill" and node.args and isinstance(
                        node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                label = ast.unparse(node.func.value)
                if "Password" in label and len(node.args[0].value) >= 8:
                    passwords.add(node.args[0].value)
    return numbers, passwords


def leaks(log: str, *, numbers: set[str], passwords: set[str], secrets: dict[str, str]
          ) -> list[str]:
    """What of the forbidden things the log holds, described without repeating secrets."""
    found = [f"ID or phone number {n}" for n in sorted(numbers) if n in log]
    for match in RESIDENT_ID.finditer(log):
        number = match.group(0)
        if identity.resident_check_char(number[:17]) == number[17]:
            found.append(f"resident ID number {number}")
    found += [f"mobile number {m.group(0)}" for m in MOBILE.finditer(log)]
    found += [f"a password used in the tests ({p[:3]}…)" for p in sorted(passwords) if p in log]
    found += [f"'{marker}' (an API key or webhook secret)" for marker in KEY_MARKERS
              if marker in log]
    found += [f"the instance secret of {name}" for value, name in sorted(secrets.items())
              if value in log]
    return found


def instance_secrets(data_dir: Path) -> dict[str, str]:
    """The server's generated secrets (data, index and session keys): value -> file name."""
    out = {}
    for path in data_dir.glob("*key*"):
        if path.is_file() and path.suffix in (".txt", ".pem", ""):
            value = path.read_text(errors="replace").strip()
            if len(value) >= 16:
                out[value] = path.name
    return out


def test_the_scanner_finds_what_it_looks_for() -> None:
    planted = identity.make_resident_id("310101", identity.china_today().replace(year=1990), 7)
    log = (f'INFO: "GET /x?id={planted} HTTP/1.1" 200\nphone 13700001111\n'
           "Authorization: Bearer lrp_abc\nsecret whsec_xyz\npw: violet kettle\n")
    found = leaks(log, numbers=set(), passwords={"violet kettle"}, secrets={})
    assert len(found) == 5, found
    # Serials, registration numbers, timestamps and unique e-mail addresses are not numbers.
    innocent = ("serial a13812345678b0c LR-2026-0012345 1764484800 "
                "streamer-1764484800123456789@example.com 1101**********8794")
    assert leaks(innocent, numbers=set(), passwords=set(), secrets={}) == []


def test_the_server_log_holds_no_personal_data_or_secret(server: Server) -> None:
    numbers, passwords = typed_in_tests()
    assert "110105198503128794" in numbers and "13812345678" in numbers
    assert passwords, "found no password in the browser tests' sources"
    secrets = instance_secrets(server.data_dir)
    log = server.log.read_text(encoding="utf-8", errors="replace")
    assert "Serving on" in log
    found = leaks(log, numbers=numbers, passwords=passwords, secrets=secrets)
    assert not found, f"the server log ({server.log}) contains: " + "; ".join(found)

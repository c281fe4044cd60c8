"""A witnessed log end to end, over real HTTP: `portal witness keygen`, `portal witness serve`
as its own process, the portal's log sending it each checkpoint (the server's round), and
`portal log verify --witness VKEY --min-witnesses K` requiring the cosignatures.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal import cli
from portal.api.log import witness
from tests.unit.records.test_log_verify import append, run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(["witness", "keygen", "--name", name, "--key", str(path)]) == 0
    return capsys.readouterr().out.strip()


@pytest.fixture
def witness_setup(tmp_path: Path, capsys) -> dict[str, str]:  # type: ignore[no-untyped-def]
    keys = tmp_path / "witness"
    return {"port": str(free_port()), "dir": str(keys),
            "vkey": keygen(keys / "w1.key", "witness.test/w1", capsys),
            "other": keygen(keys / "w2.key", "witness.test/w2", capsys)}


@pytest.fixture
def settings(settings, listener, witness_setup):  # type: ignore[no-untyped-def]
    host, port = listener.getsockname()
    settings.issuer = f"http://{host}:{port}"
    settings.witnesses = f"http://127.0.0.1:{witness_setup['port']} {witness_setup['vkey']}"
    return settings


@pytest.fixture
def witness_process(live, witness_setup, app) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """`portal witness serve` trusting the portal's log key; its state file."""
    with urllib.request.urlopen(f"{app.state.settings.issuer}/log/vkey") as answer:  # noqa: S310
        log_vkey = answer.read().decode().splitlines()[0]
    state_file = Path(witness_setup["dir"]) / "state.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "portal", "witness", "serve", "--key",
         f"{witness_setup['dir']}/w1.key", "--log", log_vkey, "--state", str(state_file),
         "--port", witness_setup["port"]],
        env={**os.environ, "PORTAL_DATA_DIR": witness_setup["dir"]},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{witness_setup['port']}/") as answer:
                assert witness_setup["vkey"] in answer.read().decode()
            break
        except OSError:
            assert time.monotonic() < deadline, "the witness did not start"
            time.sleep(0.1)
    yield state_file
    process.terminate()
    process.wait(10)


def test_a_witnessed_checkpoint_verifies_with_the_witness_required(
        app, live, witness_setup, witness_process, state, capsys) -> None:
    code, out = run("--url", live, "--state", str(state), "--witness", witness_setup["vkey"],
                    capsys=capsys)
    assert code == 1 and out.endswith("/api/v1/log/checkpoint: HTTP Error 503: Service "
                                      "Unavailable"), "nothing is published before it is cosigned"

    assert witness(app.state.engine, app.state.settings) == 1  # the server's round
    code, out = run("--url", live, "--state", str(state), "--witness", witness_setup["other"],
                    capsys=capsys)
    assert (code, out) == (1, "invalid: the checkpoint is cosigned by 0 of the 1 witnesses "
                              "given; 1 needed")
    assert not state.exists()
    code, out = run("--url", live, "--state", str(state), "--witness", witness_setup["vkey"],
                    capsys=capsys)
    assert code == 0 and out.endswith(", cosigned by witness.test/w1 in " + str(state))

    append(app, 4)
    assert witness(app.state.engine, app.state.settings) == 1
    code, out = run("--url", live, "--state", str(state), "--witness", witness_setup["vkey"],
                    "--witness", witness_setup["other"], "--min-witnesses", "1", capsys=capsys)
    assert code == 0 and "cosigned by witness.test/w1 (was" in out
    assert '"size": ' in witness_process.read_text(), "the witness kept its state"

    # Two of the two trusted witnesses required: the second never cosigned.
    code, out = run("--url", live, "--state", str(state), "--witness", witness_setup["vkey"],
                    "--witness", witness_setup["other"], "--min-witnesses", "2", capsys=capsys)
    assert (code, out) == (1, "invalid: the checkpoint is cosigned by 1 of the 2 witnesses "
                              "given; 2 needed")


def test_witness_options_that_pin_nothing_are_refused(live, state, witness_setup, capsys
                                                      ) -> None:
    code = cli.main(["log", "verify", "--url", live, "--state", str(state),
                     "--issuer", live.removesuffix("/api/v1/log"), "--min-witnesses", "1"])
    assert code == 2 and "--min-witnesses" in capsys.readouterr().err
    code = cli.main(["log", "verify", "--url", live, "--state", str(state),
                     "--issuer", live.removesuffix("/api/v1/log"), "--witness", "nonsense"])
    assert code == 2 and "--witness 'nonsense' is not a verifier key" in capsys.readouterr().err
    assert not state.exists()


def test_keygen_never_replaces_a_key(tmp_path, capsys) -> None:
    path = tmp_path / "w.key"
    vkey = keygen(path, "witness.test/w9", capsys)
    assert vkey.startswith("witness.test/w9+")
    assert cli.main(["witness", "keygen", "--name", "witness.test/w9", "--key", str(path)]) == 2
    assert "exists" in capsys.readouterr().err

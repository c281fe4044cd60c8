"""The log's side of C2SP ``tlog-witness`` (DESIGN §6, "Witnesses"): the newest checkpoint goes to
each witness in ``PORTAL_WITNESSES`` with a consistency proof from the size that witness last
cosigned; the cosignature that comes back is checked with the witness's key and kept beside the
checkpoint. The published checkpoint (``/log/checkpoint`` and ``/api/v1/log/checkpoint``) is
then the newest one cosigned by ``PORTAL_WITNESS_QUORUM`` of them.

A witness that answers 409 has cosigned another size (another process of ours got there first,
or our record of it is behind): the submission is made once more from the size it names. A
witness that is down or refuses is logged and asked again at the next round; what it refused
stays in its own evidence file.

The witnesses are the operator's configuration, not a user's input, so they are reached
directly (``http.client``: no redirects, no proxies), with ``PORTAL_WITNESS_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from portal.base.db import session_scope
from portal.base.settings import Settings, SettingsError
from portal.ledger import tlog
from portal.ledger import witness as notes

logger = logging.getLogger("portal.log.witness")

# (url, body) → (status, content type, body); replaced in tests.
Post = Callable[[str, bytes], tuple[int, str, bytes]]


@dataclass(frozen=True)
class ConfiguredWitness:
    key: notes.NoteKey
    url: str  # the submission prefix

    @property
    def name(self) -> str:
        return self.key.name


def configured(settings: Settings) -> list[ConfiguredWitness]:
    """The witnesses of ``PORTAL_WITNESSES``: entries separated by ``;`` or new lines, each a
    submission prefix URL and the witness's verifier key, separated by a space. SettingsError
    when one is not."""
    found = []
    for raw in settings.witnesses.replace(";", "\n").splitlines():
        entry = raw.strip()
        if not entry:
            continue
        url, _, vkey = entry.partition(" ")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(f"PORTAL_WITNESSES: {url!r} is not an http(s) URL")
        try:
            key = notes.parse_vkey(vkey.strip())
        except ValueError as exc:
            raise SettingsError(
                f"PORTAL_WITNESSES: the key after {url} is not valid: {exc}") from exc
        if key.key_type != notes.COSIGNATURE_KEY_TYPE:
            raise SettingsError(f"PORTAL_WITNESSES: {key.name} is not a cosigner key (0x04)")
        found.append(ConfiguredWitness(key, url.rstrip("/")))
    if len({w.name for w in found}) != len(found):
        raise SettingsError("PORTAL_WITNESSES names a witness twice")
    return found


def quorum(settings: Settings) -> int:
    """How many cosignatures a checkpoint needs to be published: 0 without witnesses."""
    count = len(configured(settings))
    if count == 0:
        return 0
    return max(1, min(settings.witness_quorum, count))


def http_post(timeout: float) -> Post:
    def post(url: str, body: bytes) -> tuple[int, str, bytes]:
        parts = urlsplit(url)
        cls = (http.client.HTTPSConnection if parts.scheme == "https"
               else http.client.HTTPConnection)
        connection = cls(parts.netloc, timeout=timeout)
        try:
            connection.request("POST", parts.path or "/", body=body,
                               headers={"Content-Type": "text/plain; charset=utf-8"})
            response = connection.getresponse()
            return (response.status, response.getheader("Content-Type", ""),
                    response.read(notes.MAX_REQUEST_BYTES))
        finally:
            connection.close()
    return post


class NotCosigned(Exception):
    pass


def _submit(engine: Engine, witness: ConfiguredWitness, tree_size: int, note: str,
            old_size: int, post: Post) -> str:
    """One add-checkpoint request; the checked cosignature line. Retries once on a 409."""
    for _attempt in range(2):
        proof: list[bytes] = []
        if 0 < old_size < tree_size:
            with session_scope(engine) as session:
                proof = tlog.consistency_proof(session, old_size, tree_size).proof
        status, media_type, body = post(f"{witness.url}/add-checkpoint",
                                        notes.add_checkpoint_body(old_size, proof, note))
        if status == 409 and media_type.startswith(notes.SIZE_MEDIA_TYPE):
            text = body.decode("ascii", "replace").strip()
            if not text.isdigit() or int(text) > tree_size or int(text) == old_size:
                raise NotCosigned(f"409 naming size {text!r}, which this log cannot prove from")
            old_size = int(text)
            continue
        if status != 200:
            raise NotCosigned(f"{status}: {body[:200].decode('utf-8', 'replace').strip()}")
        return _checked_line(witness, note, body)
    raise NotCosigned("409 twice")


def _checked_line(witness: ConfiguredWitness, note: str, body: bytes) -> str:
    """The witness's own valid cosignature line in its answer (others are ignored)."""
    try:
        answer = body.decode("utf-8")
        parsed = notes.parse_note(note + answer)
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotCosigned(f"the answer is not signature lines: {exc}") from exc
    for sig in parsed.signatures:
        if sig.name == witness.name and sig.key_id == witness.key.key_id:
            one = notes.Note(parsed.text, [sig])
            if notes.cosigned_at(one, witness.key) is not None:
                return sig.line
    raise NotCosigned("the answer holds no valid cosignature by the witness's key")


def gather(engine: Engine, settings: Settings, *, post: Post | None = None) -> int:
    """Ask every configured witness that has not cosigned the newest checkpoint to do so; how
    many cosignatures were added. Safe to run in several processes at once."""
    witnesses = configured(settings)
    if not witnesses:
        return 0
    post = post or http_post(settings.witness_timeout_seconds)
    with session_scope(engine) as session:
        newest = tlog.newest_note(session)
        if newest is None:
            return 0
        tree_size, note = newest
        have = set(tlog.cosigners(session, tree_size))
        due = [(w, tlog.cosigned_size(session, w.name)) for w in witnesses if w.name not in have]
    added = 0
    for witness, old_size in due:
        try:
            line = _submit(engine, witness, tree_size, note, old_size, post)
        except (NotCosigned, OSError, http.client.HTTPException) as exc:
            logger.warning("witness %s did not cosign tree size %d: %s", witness.name, tree_size,
                           exc)
            continue
        signed = notes.cosigned_at(notes.parse_note(note + line), witness.key) or 0
        try:
            with session_scope(engine, write=True) as session:
                if tlog.record_cosignature(
                        session, tree_size=tree_size, witness=witness.name, line=line,
                        signed_at=datetime.fromtimestamp(signed, UTC)):
                    added += 1
                session.commit()
        except IntegrityError:  # another process kept its cosignature first
            continue
    return added

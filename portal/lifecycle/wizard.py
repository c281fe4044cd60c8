"""The registration wizard (DESIGN §3): start a registration, check and save each step (answers,
sensitive values encrypted, uploads kept), the identity check, the roster links between MCNs and
streamers, and each step's state on the task list."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Field, Session, SQLModel, col, delete, select

from portal.accounts import User
from portal.base import crypto, identity, regions, uploads
from portal.base.db import UTCDateTime, utcnow
from portal.base.errors import FormErrors, NotFound
from portal.base.forms import FormInput, StepContext
from portal.base.i18n import gettext as _
from portal.base.settings import Settings
from portal.ledger.events import Actor
from portal.lifecycle import changes
from portal.registration import steps
from portal.registration.models import (
    AMENDMENT_EDITABLE,
    EDITABLE,
    PENDING,
    REQUESTED,
    Amendment,
    Document,
    Registration,
    RosterLink,
    current_registration,
    document_context,
    secret_context,
)


@dataclass
class Upload:
    """A file that arrived with a step, already checked by its bytes."""

    field: str
    filename: str
    content_type: str
    data: bytes
    # Whether uploads.clean_upload already re-encoded it (else _store_document does).
    cleaned: bool = False


@dataclass
class Signing:
    """Where a signature came from."""

    ip: str = ""
    user_agent: str = ""
    at: datetime = field(default_factory=utcnow)


class StepDraft(SQLModel, table=True):
    """What was typed on a step and not saved: it did not pass its checks, a channel was added,
    or the session ended before the save. Shown on the step again, never submitted, kept only
    encrypted (it holds whatever personal data was typed)."""

    __tablename__ = "step_drafts"

    id: int | None = Field(default=None, primary_key=True)
    # None while held against the login page (the session had ended): the browser that typed
    # it holds the token whose SHA-256 is ``held_token``, and the account whose session it was
    # claims it when it logs in there again (the account is bound in the encryption context).
    registration_id: int | None = Field(default=None, foreign_key="registrations.id",
                                        index=True)
    step: str = Field(max_length=16)
    held_token: str | None = Field(default=None, max_length=64, unique=True)
    ciphertext: bytes
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Amending:
    """An approved registration as its holder is changing it: read like the registration (its
    id, which keys its documents and encrypted values, its number and status), with the
    amendment's answers; what the steps write goes to the amendment, never to the registration
    (whose approved answers the certificate, the API and /verify keep stating)."""

    def __init__(self, registration: Registration, amendment: Amendment) -> None:
        self.registration = registration
        self.amendment = amendment
        # The linking keys of the changed answers, set when it is screened.
        self.person_key: str | None = None
        self.birth_key: str | None = None
        self.org_key: str | None = None
        self.representative_key: str | None = None

    @property
    def id(self) -> int | None:
        return self.registration.id

    @property
    def user_id(self) -> int:
        return self.registration.user_id

    @property
    def number(self) -> str | None:
        return self.registration.number

    @property
    def status(self) -> str:
        return self.registration.status

    @property
    def answers(self) -> dict[str, Any]:
        return self.amendment.answers

    @answers.setter
    def answers(self, value: dict[str, Any]) -> None:
        self.amendment.answers = value

    @property
    def subject_kind(self) -> str:
        return self.amendment.subject_kind

    @subject_kind.setter
    def subject_kind(self, value: str) -> None:
        self.amendment.subject_kind = value

    @property
    def roles(self) -> str:
        return self.amendment.roles

    @roles.setter
    def roles(self, value: str) -> None:
        self.amendment.roles = value

    @property
    def region(self) -> str | None:
        return self.amendment.region

    @region.setter
    def region(self, value: str | None) -> None:
        self.amendment.region = value

    @property
    def identity_index(self) -> str | None:
        return self.amendment.identity_index

    @identity_index.setter
    def identity_index(self, value: str | None) -> None:
        self.amendment.identity_index = value

    @property
    def version(self) -> int:
        return self.amendment.version

    @version.setter
    def version(self, value: int) -> None:
        self.amendment.version = value

    @property
    def updated_at(self) -> datetime:
        return self.amendment.updated_at

    @updated_at.setter
    def updated_at(self, value: datetime) -> None:
        self.amendment.updated_at = value


# What the wizard edits: a registration not yet approved, or an approved one's amendment.
Editable = Registration | Amending


def _row(registration: Editable) -> Registration | Amendment:
    """The table row the wizard writes."""
    return registration.amendment if isinstance(registration, Amending) else registration


def is_editable(registration: Editable) -> bool:
    """Whether the applicant may change its answers now."""
    if isinstance(registration, Amending):
        return registration.amendment.status in AMENDMENT_EDITABLE \
            and registration.status == "approved"
    return registration.status in EDITABLE


# How long a draft held against the login page waits for its browser to log in again.
HELD_FOR = timedelta(minutes=30)
# Form fields that are not answers.
_NOT_ANSWERS = frozenset({"csrf_token", "action", "remove_channel", "return", "_field"})


@dataclass
class StepState:
    step: str
    state: str  # not_started | done | needs_attention
    errors: dict[str, str]


def step_secrets(settings: Settings, registration: Editable, step: str) -> dict[str, str]:
    """Decrypt a step's saved sensitive values (for validation, never for display)."""
    saved = registration.answers.get(step) or {}
    cipher = crypto.cipher_for(settings)
    out = {}
    for name in (*steps.DEFINITIONS[step].sensitive, *steps.DEFINITIONS[step].contacts):
        blob = saved.get(f"{name}_enc")
        if blob:
            out[name] = cipher.decrypt_text(
                base64.b64decode(blob), context=secret_context(registration.id, step, name)
            )
    return out


def form_answers(settings: Settings, registration: Editable, step: str) -> dict[str, Any]:
    """A step's saved answers as its owner's form shows them again: the free text with phone
    numbers in it as typed (screens everywhere else show the numbers masked)."""
    saved = dict(registration.answers.get(step) or {})
    secrets = step_secrets(settings, registration, step)
    saved.update({name: secrets[name] for name in steps.DEFINITIONS[step].contacts
                  if name in secrets})
    return saved


def saved_documents(registration: Editable, step: str) -> dict[str, int]:
    """Upload field -> document id: the step's saved files, overridden by newer pending ones."""
    saved = registration.answers.get(step) or {}
    pending = (registration.answers.get(PENDING) or {}).get(step) or {}
    out = {name: saved[name] for name in steps.DEFINITIONS[step].uploads if saved.get(name)}
    uploads = steps.DEFINITIONS[step].uploads
    out.update({name: doc for name, doc in pending.items() if name in uploads})
    return out


def step_documents(registration: Editable, step: str) -> set[str]:
    return set(saved_documents(registration, step))


def context_for(
    settings: Settings,
    registration: Editable,
    step: str,
    *,
    today: date,
    extra_documents: set[str] | None = None,
) -> StepContext:
    return StepContext(
        today=today,
        answers=registration.answers,
        documents=step_documents(registration, step) | (extra_documents or set()),
        secrets=step_secrets(settings, registration, step),
    )


def step_states(settings: Settings, registration: Editable, *, today: date) -> list[StepState]:
    """Each applicable step with its state, by validating the saved answers again."""
    states = []
    for step in steps.applicable_steps(registration.answers, today):
        if step == "review":
            continue
        saved = registration.answers.get(step)
        if not saved:
            states.append(StepState(step, "not_started", {}))
            continue
        ctx = context_for(settings, registration, step, today=today)
        checker = steps.DEFINITIONS[step].validate(steps.to_form(step, saved), ctx)
        errors = dict(checker.errors)
        if step == "identity" and not errors and (problem := verification_problem(saved)):
            errors["id_number"] = problem
        requested = (registration.answers.get(REQUESTED) or {}).get(step)
        if requested is not None:
            errors["_requested"] = _("The moderator asked you to change this step: %(message)s",
                                     message=requested)
        states.append(StepState(step, "needs_attention" if errors else "done", errors))
    return states


def verification_problem(identity_answers: dict[str, Any]) -> str | None:
    """What the applicant is told when the identity provider did not confirm them."""
    status = (identity_answers.get("verification") or {}).get("status")
    if status == "unavailable":
        return str(identity.UNAVAILABLE_MESSAGE)
    if status == "refused":
        # The service's own words go to staff; the applicant gets ours, in their language.
        return _("The name and ID number do not match. Check them against your ID document")
    return None


def missing(settings: Settings, registration: Editable, *, today: date) -> list[StepState]:
    return [s for s in step_states(settings, registration, today=today) if s.state != "done"]


def start_registration(session: Session, user: User) -> Registration:
    """Open a draft for the applicant, or return the one that has not ended; the caller commits."""
    existing = current_registration(session, user)
    if existing is not None:
        return existing
    registration = Registration(user_id=user.id)  # type: ignore[arg-type]
    session.add(_row(registration))
    session.flush()
    changes.started(session, registration, actor=Actor.of(user))
    session.flush()
    return registration


def _require_editable(registration: Editable) -> None:
    if not is_editable(registration):
        raise FormErrors({"_": _("This registration has been submitted and cannot be changed "
                                 "while it is reviewed")})


def check_step(
    settings: Settings,
    registration: Editable,
    step: str,
    form: FormInput,
    *,
    today: date,
    documents_given: bool = True,
) -> dict[str, str]:
    """Validate a step's form without saving (the inline check: uploads count as given; a
    draft: only the files kept count)."""
    given = set(steps.DEFINITIONS[step].uploads) if documents_given else set()
    ctx = context_for(settings, registration, step, today=today, extra_documents=given)
    return steps.DEFINITIONS[step].validate(form, ctx).errors


def _store_document(
    session: Session, settings: Settings, registration: Editable, upload: Upload
) -> int:
    if not upload.cleaned:
        # Images re-encoded without their metadata, PDFs checked for active content.
        upload.data = uploads.clean_upload(upload.data, upload.content_type)
        upload.cleaned = True
    document = Document(
        registration_id=registration.id,  # type: ignore[arg-type]
        kind=upload.field,
        filename=uploads.safe_filename(upload.filename),
        content_type=upload.content_type,
        size=len(upload.data),
        sha256=hashlib.sha256(upload.data).hexdigest(),
        ciphertext=crypto.cipher_for(settings).encrypt(
            upload.data, context=document_context(registration.id, upload.field)
        ),
    )
    session.add(document)
    session.flush()
    return document.id  # type: ignore[return-value]


def _set_answers(registration: Editable, answers: dict[str, Any]) -> None:
    registration.answers = answers
    flag_modified(_row(registration), "answers")
    registration.updated_at = utcnow()
    registration.version += 1


def keep_uploads(
    session: Session,
    settings: Settings,
    *,
    registration: Editable,
    step: str,
    uploads: list[Upload],
) -> None:
    """Store checked files of a step that is not saved yet, so they are not lost; the caller
    commits."""
    _require_editable(registration)
    if not uploads:
        return
    answers = dict(registration.answers)
    pending = {k: dict(v) for k, v in (answers.get(PENDING) or {}).items()}
    for upload in uploads:
        pending.setdefault(step, {})[upload.field] = _store_document(
            session, settings, registration, upload
        )
    answers[PENDING] = pending
    _set_answers(registration, answers)
    session.add(_row(registration))
    session.flush()


def save_step(
    session: Session,
    settings: Settings,
    *,
    registration: Editable,
    step: str,
    form: FormInput,
    uploads: list[Upload],
    signing: Signing,
    today: date,
    verification: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate and save one step with its uploads; the caller commits. Raises FormErrors, saving
    nothing.

    ``verification`` is the identity provider's answer for the identity step, when the caller
    asked it beforehand (``identity_claim`` + ``verify_identity``) so that no transaction waits
    on the network; without it the provider is asked here.
    """
    _require_editable(registration)
    if step not in steps.applicable_steps(registration.answers, today) or step == "review":
        raise NotFound()
    given = {upload.field for upload in uploads}
    ctx = context_for(settings, registration, step, today=today, extra_documents=given)
    checker = steps.DEFINITIONS[step].validate(form, ctx)
    if checker.errors:
        raise FormErrors(checker.errors)
    data = checker.data
    cipher = crypto.cipher_for(settings)

    # Keep the documents already stored (or kept pending) unless a new file replaces them.
    data.update(saved_documents(registration, step))
    for upload in uploads:
        data[upload.field] = _store_document(session, settings, registration, upload)

    clear_values = {name: data.get(name) for name in steps.DEFINITIONS[step].sensitive}
    for name in steps.DEFINITIONS[step].sensitive:
        clear = data.pop(name, None)
        if clear is None:
            continue
        blob = cipher.encrypt_text(clear, context=secret_context(registration.id, step, name))
        data[f"{name}_enc"] = base64.b64encode(blob).decode()
        data[f"{name}_masked"] = (
            crypto.mask_phone(clear) if name == "phone" else crypto.mask_id_number(clear)
        )

    _protect_contacts(cipher, registration, step, data)

    if step == "identity":
        _apply_identity(settings, registration, data, clear_number=clear_values["id_number"],
                        today=today, signing=signing, verification=verification)
    elif step == "roles":
        registration.roles = ",".join(data["roles"])
        if registration.subject_kind == "organization":
            registration.region = regions.region_for(data.get("org_province"),
                                                     data.get("org_city"))
        if isinstance(registration, Amending):
            # Linked when a moderator approves the change; the numbers must exist now.
            _roster_streamers(session, registration, data["roster"])
        else:
            link_roster(session, registration, data["roster"])
    elif step == "security":
        data["signed_at"] = signing.at.isoformat()
        data["ip"] = signing.ip
        data["user_agent"] = signing.user_agent[:400]

    discard_drafts(session, registration, step)
    answers = dict(registration.answers)
    answers[step] = data
    answers[PENDING] = {k: v for k, v in (answers.get(PENDING) or {}).items() if k != step}
    # Saving the step is the applicant's answer to a moderator's request about it.
    answers[REQUESTED] = {k: v for k, v in (answers.get(REQUESTED) or {}).items() if k != step}
    _set_answers(registration, answers)
    session.add(_row(registration))
    session.flush()
    return data


def _protect_contacts(cipher: crypto.DataCipher, registration: Editable, step: str,
                      data: dict[str, Any]) -> None:
    """Free text that may hold phone numbers (a security contact, a staff list): the text as
    typed only encrypted, beside it a copy with the numbers masked, as for the phone number."""
    for name in steps.DEFINITIONS[step].contacts:
        text = data.get(name)
        if not text:
            continue
        blob = cipher.encrypt_text(text, context=secret_context(registration.id, step, name))
        data[f"{name}_enc"] = base64.b64encode(blob).decode()
        data[name] = crypto.mask_phones_in_text(text)


def _apply_identity(
    settings: Settings,
    registration: Editable,
    data: dict[str, Any],
    *,
    clear_number: str | None,
    today: date,
    signing: Signing,
    verification: dict[str, Any] | None = None,
) -> None:
    registration.subject_kind = data["subject_kind"]
    if registration.subject_kind == "person":
        registration.region = regions.region_for(data["residence_province"],
                                                 data.get("residence_city"))
    if clear_number:
        registration.identity_index = crypto.identity_index(
            settings, data["id_type"], clear_number
        )
    data["consent_at"] = signing.at.isoformat()
    data["verification"] = verification or verify_identity(settings, data, clear_number, today)


def identity_claim(settings: Settings, registration: Editable, form: FormInput, *,
                   today: date) -> dict[str, Any] | None:
    """The identity step's validated answers (clear values included), or None if invalid."""
    ctx = context_for(settings, registration, "identity", today=today)
    checker = steps.DEFINITIONS["identity"].validate(form, ctx)
    return None if checker.errors else checker.data


def verify_identity(
    settings: Settings, data: dict[str, Any], clear_number: str | None, today: date
) -> dict[str, Any]:
    """Ask the identity provider; an unreachable provider leaves the step to retry later."""
    if not clear_number:
        return {"status": "unavailable", "provider": "none"}
    provider = identity.provider_for(settings)
    claim = identity.IdentityClaim(
        id_type=data["id_type"],
        id_number=clear_number,
        legal_name=data["legal_name"],
        date_of_birth=date.fromisoformat(data["date_of_birth"]),
    )
    try:
        result = provider.verify(claim, today=today)
    except identity.ProviderUnavailable:
        return {"status": "unavailable", "provider": provider.name}
    return {
        "status": "verified" if result.verified else "refused",
        "provider": result.provider,
        "reference": result.reference,
        "reason": result.reason,
        "at": utcnow().isoformat(),
    }


def _roster_streamers(session: Session, registration: Editable, numbers: list[str]
                      ) -> dict[int, Registration]:
    """The registrations of the streamers named; FormErrors for a number nobody holds."""
    streamers: dict[int, Registration] = {}
    unknown = []
    for number in numbers:
        streamer = session.exec(select(Registration).where(Registration.number == number)).first()
        if streamer is None or streamer.status == "draft" or streamer.id == registration.id:
            unknown.append(number)
        else:
            streamers[streamer.id] = streamer  # type: ignore[index]
    if unknown:
        raise FormErrors({"roster": _("No submitted registration has the number %(number)s",
                                      number=unknown[0])})
    return streamers


def link_roster(session: Session, registration: Registration, numbers: list[str]) -> None:
    """Replace the registration's roster with the streamers named; each must exist."""
    streamers = _roster_streamers(session, registration, numbers)
    links = select(RosterLink).where(RosterLink.manager_id == registration.id)
    existing = {link.streamer_id: link for link in session.exec(links)}
    for streamer_id, link in existing.items():
        if streamer_id not in streamers:
            session.delete(link)
    for streamer_id in streamers:
        if streamer_id not in existing:
            link = RosterLink(manager_id=registration.id, streamer_id=streamer_id)  # type: ignore[arg-type]
            session.add(link)


def confirm_roster_link(session: Session, *, user: User, link_id: int) -> RosterLink:
    """The managed streamer confirms the link; the caller commits."""
    link = session.get(RosterLink, link_id)
    streamer = session.get(Registration, link.streamer_id) if link else None
    if link is None or streamer is None or streamer.user_id != user.id:
        raise NotFound()
    if link.confirmed_at is None:
        link.confirmed_at = utcnow()
        session.add(link)
        manager = session.get(Registration, link.manager_id)
        changes.record(session, action="roster_confirmed", actor=Actor.of(user),
                       registration_id=streamer.id,
                       data={"manager": manager.number if manager else None})
        session.flush()
    return link


# --- drafts: what was typed on a step and not saved ---------------------------------------------


def _draft_context(registration_id: int | None, step: str) -> bytes:
    return f"draft:registration:{registration_id}:{step}".encode()


def _held_context(held: str, account: int, step: str) -> bytes:
    # The account is bound here rather than kept in a column: a draft held for one account
    # cannot even be opened for another.
    return f"draft:held:{held}:account:{account}:{step}".encode()


def _sealed(settings: Settings, form: FormInput, context: bytes) -> bytes:
    answers = {k: [v for v in values if isinstance(v, str)] for k, values in form.items()
               if k not in _NOT_ANSWERS}
    return crypto.cipher_for(settings).encrypt_text(json.dumps(answers, ensure_ascii=False),
                                                    context=context)


def _opened(settings: Settings, draft: StepDraft, context: bytes) -> FormInput:
    data = json.loads(crypto.cipher_for(settings).decrypt_text(draft.ciphertext,
                                                               context=context))
    return {str(k): [str(v) for v in values] for k, values in data.items()}


def _draft(session: Session, registration: Editable, step: str) -> StepDraft | None:
    return session.exec(select(StepDraft).where(
        StepDraft.registration_id == registration.id, StepDraft.step == step)).first()


def keep_draft(session: Session, settings: Settings, *, registration: Editable, step: str,
               form: FormInput) -> None:
    """Keep what was typed on a step, valid or not, without saving the step; the caller
    commits."""
    _require_editable(registration)
    draft = _draft(session, registration, step) or StepDraft(
        registration_id=registration.id, step=step, ciphertext=b"")
    draft.ciphertext = _sealed(settings, form, _draft_context(registration.id, step))
    draft.updated_at = utcnow()
    session.add(draft)
    session.flush()


def draft_of(session: Session, settings: Settings, registration: Editable, step: str
             ) -> FormInput | None:
    """What was typed on the step and not saved, or None."""
    draft = _draft(session, registration, step)
    if draft is None:
        return None
    return _opened(settings, draft, _draft_context(registration.id, step))


def discard_drafts(session: Session, registration: Editable, step: str | None = None
                   ) -> None:
    """Forget the drafts of a step (saved after all), or of every step (submitted)."""
    query = delete(StepDraft).where(col(StepDraft.registration_id) == registration.id)
    if step is not None:
        query = query.where(col(StepDraft.step) == step)
    session.exec(query)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hold_draft(session: Session, settings: Settings, *, step: str, form: FormInput,
               account: int) -> str:
    """Keep what was posted to a step when the session of ``account`` had ended, for when that
    account logs in again in the same browser; returns the token that browser keeps. The
    caller commits."""
    if step not in steps.DEFINITIONS:
        raise NotFound()
    token = secrets.token_urlsafe(32)
    held = _token_hash(token)
    session.add(StepDraft(step=step, held_token=held, ciphertext=_sealed(
        settings, form, _held_context(held, account, step))))
    session.flush()
    return token


def claim_held_draft(session: Session, settings: Settings, *, token: str,
                     registration: Editable, step: str) -> bool:
    """Make a held draft of this step the registration's draft (its account logged in again);
    drafts held too long are forgotten. The caller commits. Whether one was claimed: not when
    the draft was held for another account (someone else logged in in that browser), which
    stays sealed until its own account comes back or its time runs out."""
    session.exec(delete(StepDraft).where(
        col(StepDraft.held_token).is_not(None), col(StepDraft.updated_at) < utcnow() - HELD_FOR))
    held = session.exec(select(StepDraft).where(
        StepDraft.held_token == _token_hash(token), StepDraft.step == step)).first()
    if held is None or held.held_token is None or not is_editable(registration):
        return False
    try:
        form = _opened(settings, held, _held_context(held.held_token, registration.user_id,
                                                      step))
    except crypto.DecryptionError:
        return False
    session.delete(held)
    session.flush()
    keep_draft(session, settings, registration=registration, step=step, form=form)
    return True

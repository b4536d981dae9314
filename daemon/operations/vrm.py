"""`selfdata requests`, `selfdata share` and `selfdata verify`: requests to organisations and
signed minimal disclosures (daemon/vrm)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..services import Services
from ..times import now_ms, parse_instant
from ..vrm import directory, disclosures, reminders, signing, verify
from ..vrm.directory import DirectoryError, Organisation
from ..vrm.requests import RequestStore
from .registry import Emit, NoParams, Result, operation


@dataclass(frozen=True)
class NewRequest:
    kind: str
    org: str | None = None  # an id from the directory
    name: str | None = None  # or any organisation: its name...
    email: str | None = None  # ...and its privacy contact
    postal: str | None = None
    lang: str = "en"
    zone: str = "UTC"
    folder: str | None = None
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestId:
    id: int


@dataclass(frozen=True)
class Sent:
    id: int
    at: str | None = None  # when it was sent (ISO 8601 with offset); now if not given


@dataclass(frozen=True)
class Check:
    at: str | None = None  # check as if it were then (ISO 8601 with offset)


@dataclass(frozen=True)
class Share:
    recipient: str
    purpose: str
    extracts: tuple[dict[str, Any], ...]
    valid_days: int = 30
    subject: str | None = None
    id: str | None = None  # from the preview, to issue it
    issued_ms: int | None = None  # from the preview
    digest: str | None = None  # of the document shown: issue signs only that


@dataclass(frozen=True)
class DisclosureId:
    id: str


@dataclass(frozen=True)
class Revoke:
    id: str
    reason: str = "revoked"


@dataclass(frozen=True)
class Verify:
    path: str  # the disclosure file (sent to the daemon as an upload)
    at: str | None = None
    filename: str | None = None


def _org(services: Services, params: NewRequest) -> Organisation:
    if params.org:
        found = directory.load(services.paths.config_file).get(params.org)
        if found is None:
            raise DirectoryError(f"no organisation {params.org!r} in the directory: selfdata requests orgs lists them")
        return found
    if not params.name:
        raise DirectoryError("name an organisation: --org ID from the directory, or --name with --email or --postal")
    slug = "".join(c if c.isalnum() else "-" for c in params.name.lower()).strip("-")[:40] or "organisation"
    return Organisation(slug, params.name, email=params.email or "", postal=params.postal or "", builtin=False)


@operation("vrm.orgs", NoParams)
async def orgs(services: Services, params: NoParams, emit: Emit) -> Result:
    """The directory of organisations and their published privacy contacts."""
    return [o.to_json() for o in directory.load(services.paths.config_file).values()]


@operation("vrm.request_new", NewRequest)
async def request_new(services: Services, params: NewRequest, emit: Emit) -> Result:
    """Draft a request to an organisation: access, portability, rectification or erasure."""
    org = _org(services, params)
    req = RequestStore(services.vault).create(org, params.kind, params.lang, params.zone, params.details, params.folder)
    now = now_ms()
    return {**req.to_json(now), "letter": req.letter(now)}


@operation("vrm.requests", NoParams)
async def request_list(services: Services, params: NoParams, emit: Emit) -> Result:
    """Every request, newest first, with its status and deadline (answers linked first)."""
    store = RequestStore(services.vault)
    await asyncio.to_thread(store.link_answers)
    now = now_ms()
    return [r.to_json(now) for r in store.all()]


@operation("vrm.request_show", RequestId)
async def request_show(services: Services, params: RequestId, emit: Emit) -> Result:
    """One request with its letter."""
    req = RequestStore(services.vault).get(params.id)
    now = now_ms()
    return {**req.to_json(now), "letter": req.letter(now)}


@operation("vrm.request_sent", Sent)
async def request_sent(services: Services, params: Sent, emit: Emit) -> Result:
    """Record when the request was sent: its deadline runs from then."""
    at = parse_instant(params.at) if params.at else now_ms()
    req = RequestStore(services.vault).mark_sent(params.id, at)
    now = now_ms()
    return {**req.to_json(now), "letter": req.letter(now)}


@operation("vrm.request_extend", RequestId)
async def request_extend(services: Services, params: RequestId, emit: Emit) -> Result:
    """The organisation gave notice of the two-month extension (art. 12(3))."""
    return RequestStore(services.vault).extend(params.id).to_json(now_ms())


@operation("vrm.request_close", RequestId)
async def request_close(services: Services, params: RequestId, emit: Emit) -> Result:
    """Stop tracking a request (withdrawn, or answered by other means)."""
    return RequestStore(services.vault).close(params.id).to_json(now_ms())


@operation("vrm.requests_check", Check)
async def requests_check(services: Services, params: Check, emit: Emit) -> Result:
    """Link answers and remind once of each passed deadline, now."""
    return await reminders.check(services, parse_instant(params.at) if params.at else None)


def _keys(services: Services) -> signing.KeyStore:
    return signing.KeyStore(services.vault, services.unlocked.master.secrets_key)


def _draft(params: Share) -> disclosures.Draft:
    extracts = tuple(disclosures.Extract.from_json(x) for x in params.extracts)
    kw: dict[str, Any] = {}
    if params.id is not None:
        kw["id"] = params.id
    if params.issued_ms is not None:
        kw["issued_ms"] = params.issued_ms
    return disclosures.Draft(params.recipient, params.purpose, extracts, params.valid_days, params.subject, **kw)


@operation("vrm.share_preview", Share)
async def share_preview(services: Services, params: Share, emit: Emit) -> Result:
    """Exactly what a disclosure would hold, unsigned; issue it with the same parameters and its digest."""
    return await asyncio.to_thread(disclosures.preview, services.vault, _keys(services), _draft(params))


@operation("vrm.share_issue", Share)
async def share_issue(services: Services, params: Share, emit: Emit) -> Result:
    """Sign the previewed disclosure (refused unless it is still exactly what was shown) and log it."""
    if params.id is None or params.issued_ms is None or params.digest is None:
        raise disclosures.DisclosureError("issue a disclosure from its preview: give its id, issued_ms and digest")
    return await asyncio.to_thread(disclosures.issue, services.vault, _keys(services), _draft(params), params.digest)


@operation("vrm.disclosures", NoParams)
async def disclosure_log(services: Services, params: NoParams, emit: Emit) -> Result:
    """Every disclosure signed: what, to whom, why, when, with which key."""
    return disclosures.log(services.vault)


@operation("vrm.disclosure_package", DisclosureId)
async def disclosure_package(services: Services, params: DisclosureId, emit: Emit) -> Result:
    """A signed disclosure again, as it was given."""
    return disclosures.package_of(services.vault, params.id)


@operation("vrm.keys", NoParams)
async def keys_list(services: Services, params: NoParams, emit: Emit) -> Result:
    """The signing keys: the active one and those revoked."""
    return [k.to_json() for k in _keys(services).all()]


@operation("vrm.key_new", NoParams)
async def key_new(services: Services, params: NoParams, emit: Emit) -> Result:
    """A new signing key; the one before it is retired (reported as revoked from now on)."""
    return _keys(services).create().to_json()


@operation("vrm.key_revoke", Revoke)
async def key_revoke(services: Services, params: Revoke, emit: Emit) -> Result:
    """Revoke a signing key: `verify` reports what it signed as revoked."""
    return _keys(services).revoke(params.id, params.reason).to_json()


@operation("vrm.verify", Verify)
async def verify_document(services: Services, params: Verify, emit: Emit) -> Result:
    """Check a disclosure: signature, dates, and whether this vault revoked its key."""
    keys = _keys(services)

    def lookup(key_id: str) -> tuple[int | None, str | None] | None:
        found = keys.find(key_id)
        return None if found is None else (found.revoked_at, found.reason)

    document = verify.parse(await asyncio.to_thread(verify.read, Path(params.path)))
    return verify.verify(document, parse_instant(params.at) if params.at else now_ms(), lookup)


OPERATIONS = (
    orgs,
    request_new,
    request_list,
    request_show,
    request_sent,
    request_extend,
    request_close,
    requests_check,
    share_preview,
    share_issue,
    disclosure_log,
    disclosure_package,
    keys_list,
    key_new,
    key_revoke,
    verify_document,
)

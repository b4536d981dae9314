"""Minimal disclosures: aggregates chosen for a recipient and a purpose, shown, then signed.

A disclosure is a W3C Verifiable Credential (data model 2.0) with a Data Integrity proof
(eddsa-jcs-2022, signing.py). Its subject holds the recipient, the purpose and, for each
extract, the aggregate's query, its rows and the sources with the span of records that
went into it: nothing else. `preview` builds exactly the document that `issue` signs;
`issue` builds it again from the vault and refuses to sign if it is not, byte for byte,
the one the user was shown (`digest`). Every disclosure is logged before it is returned.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import SelfdataError
from ..times import iso, now_ms, parse_instant
from ..vault import Vault, aggregate, filters
from ..vault.names import check_dataset, check_source
from ..vault.records import record_filter
from . import signing
from .canonical import canonical

CONTEXT = "https://www.w3.org/ns/credentials/v2"
TYPE = "SelfdataDisclosure"
MAX_DAYS = 366
MAX_EXTRACTS = 12
MAX_ROWS = 400  # a disclosure is meant to fit on a page


class DisclosureError(SelfdataError, ValueError):
    """A disclosure that cannot be built or issued as asked; the message says why."""


@dataclass(frozen=True)
class Extract:
    label: str
    dataset: str
    fn: str = "avg"
    field: str | None = None
    bucket: str | None = None
    zone: str = "UTC"
    start: str | None = None
    end: str | None = None
    where: tuple[str, ...] = ()
    source: str | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Extract:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise DisclosureError(f"an extract takes no {unknown[0]!r} (it takes {', '.join(sorted(known))})")
        if not isinstance(raw.get("label"), str) or not raw["label"].strip():
            raise DisclosureError("every extract needs a label saying what it is")
        if not isinstance(raw.get("dataset"), str):
            raise DisclosureError(f"the extract {raw['label']!r} names no dataset")
        values = dict(raw)
        values["where"] = tuple(raw.get("where") or ())
        return cls(**values)

    def query(self) -> dict[str, Any]:
        """The query as the package states it (only what was set)."""
        out: dict[str, Any] = {"dataset": self.dataset, "fn": self.fn}
        for name in ("field", "bucket", "start", "end", "source"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        out["zone"] = self.zone
        if self.where:
            out["where"] = list(self.where)
        return out


@dataclass(frozen=True)
class Draft:
    recipient: str
    purpose: str
    extracts: tuple[Extract, ...]
    valid_days: int = 30
    subject: str | None = None  # a name the user chooses to state; none by default
    id: str = field(default_factory=lambda: f"urn:uuid:{uuid.uuid4()}")
    issued_ms: int = field(default_factory=lambda: (t := now_ms()) - t % 1000)


def _check(draft: Draft) -> None:
    if not draft.recipient.strip():
        raise DisclosureError("say who the disclosure is for (the recipient)")
    if not draft.purpose.strip():
        raise DisclosureError("say what the recipient needs it for (the purpose)")
    if not 1 <= draft.valid_days <= MAX_DAYS:
        raise DisclosureError(f"a disclosure is valid for 1 to {MAX_DAYS} days")
    if not 1 <= len(draft.extracts) <= MAX_EXTRACTS:
        raise DisclosureError(f"a disclosure holds 1 to {MAX_EXTRACTS} extracts")
    if not draft.id.startswith("urn:uuid:"):
        raise DisclosureError("a disclosure's id is a urn:uuid")


def _spec(x: Extract) -> aggregate.Aggregate:
    check_dataset(x.dataset)
    if x.source is not None:
        check_source(x.source)
    return aggregate.Aggregate(
        x.dataset,
        x.fn,
        x.field,
        x.bucket,
        x.zone,
        (),
        parse_instant(x.start) if x.start else None,
        parse_instant(x.end) if x.end else None,
        x.source,
        tuple(filters.parse(x.dataset, filters.split_terms(x.where))) if x.where else (),
    )


def _sources(vault: Vault, spec: aggregate.Aggregate) -> list[dict[str, Any]]:
    clauses, params = record_filter(spec.dataset, spec.start_ms, spec.end_ms, spec.source, spec.filters)
    rows = vault.conn.execute(
        f"SELECT source, min(ts), max(ts), count(*) FROM records WHERE {' AND '.join(clauses)} GROUP BY source"
        " ORDER BY source",
        params,
    ).fetchall()
    return [{"source": s, "first": iso(a), "last": iso(b), "records": n} for s, a, b, n in rows]


def _extract(vault: Vault, x: Extract) -> dict[str, Any]:
    spec = _spec(x)
    result = aggregate.run(vault.conn, spec)
    rows = result["rows"]
    if len(rows) > MAX_ROWS:
        raise DisclosureError(f"{x.label!r} gives {len(rows)} rows: use a longer bucket or a shorter span")
    if not rows or not any(r.get("count") for r in rows):
        raise DisclosureError(f"{x.label!r} matches no records: nothing to disclose")
    return {"label": x.label.strip(), "query": x.query(), "rows": rows, "sources": _sources(vault, spec)}


def build(vault: Vault, draft: Draft, issuer: str) -> dict[str, Any]:
    """The unsigned document: everything the package will hold but its proof."""
    _check(draft)
    subject: dict[str, Any] = {
        "recipient": draft.recipient.strip(),
        "purpose": draft.purpose.strip(),
        "extracts": [_extract(vault, x) for x in draft.extracts],
    }
    if draft.subject:
        subject["name"] = draft.subject.strip()
    return {
        "@context": [CONTEXT],
        "id": draft.id,
        "type": ["VerifiableCredential", TYPE],
        "issuer": issuer,
        "validFrom": signing.stamp(draft.issued_ms),
        "validUntil": signing.stamp(draft.issued_ms + draft.valid_days * 86_400_000),
        "credentialSubject": subject,
    }


def digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(document)).hexdigest()


def preview(vault: Vault, keys: signing.KeyStore, draft: Draft) -> dict[str, Any]:
    key, _ = keys.active()
    document = build(vault, draft, f"did:key:{key.id}")
    return {"document": document, "digest": digest(document), "id": draft.id, "issued_ms": draft.issued_ms}


def issue(vault: Vault, keys: signing.KeyStore, draft: Draft, shown: str) -> dict[str, Any]:
    """Sign the document the user was shown (its digest `shown`) and log it; refuse if it changed."""
    key, secret = keys.active()
    document = build(vault, draft, f"did:key:{key.id}")
    if digest(document) != shown:
        raise DisclosureError(
            "what would be signed is not what was shown (the data or the signing key changed since): preview it again"
        )
    if vault.conn.execute("SELECT 1 FROM vrm_disclosures WHERE id=?", (draft.id,)).fetchone():
        raise DisclosureError(f"the disclosure {draft.id} was issued already: preview a new one")
    at = now_ms()
    package = signing.sign(document, secret, at)
    what = {
        "extracts": [{"label": x["label"], "query": x["query"]} for x in document["credentialSubject"]["extracts"]],
        "package": package,
    }
    with vault.writer.transaction() as conn:
        conn.execute(
            "INSERT INTO vrm_disclosures (id, at, recipient, purpose, what, valid_until, key_id, digest)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (
                draft.id,
                at,
                draft.recipient.strip(),
                draft.purpose.strip(),
                orjson.dumps(what).decode(),
                draft.issued_ms + draft.valid_days * 86_400_000,
                key.id,
                digest(package),
            ),
        )
    return package


def log(vault: Vault, limit: int = 1000) -> list[dict[str, Any]]:
    rows = vault.conn.execute(
        "SELECT id, at, recipient, purpose, what, valid_until, key_id, digest FROM vrm_disclosures"
        " ORDER BY at DESC, id LIMIT ?",
        (limit,),
    ).fetchall()
    out = []
    for id_, at, recipient, purpose, what, until, key_id, dig in rows:
        what_json = orjson.loads(what)
        out.append(
            {
                "id": id_,
                "at": iso(at),
                "recipient": recipient,
                "purpose": purpose,
                "extracts": what_json["extracts"],
                "valid_until": iso(until),
                "key": key_id,
                "digest": dig,
            }
        )
    return out


def package_of(vault: Vault, disclosure_id: str) -> dict[str, Any]:
    row = vault.conn.execute("SELECT what FROM vrm_disclosures WHERE id=?", (disclosure_id,)).fetchone()
    if row is None:
        raise DisclosureError(f"no disclosure {disclosure_id!r}: selfdata share list shows them")
    package: dict[str, Any] = orjson.loads(row[0])["package"]
    return package

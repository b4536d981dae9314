"""Requests to organisations: drafted, sent (by the user), due, overdue, answered.

A request's folder is the inbox sub-folder its answer goes in, and so the source the answer
is imported as (the inbox's rule: a file in a sub-folder goes to the source of that name).
An import into that source after the request was drafted answers the oldest open request
of the folder: the request is marked answered with the files and records that came.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from ..errors import SelfdataError
from ..times import iso, now_ms
from ..vault import Vault
from ..vault.names import check_source
from . import deadlines, letters
from .directory import Organisation

FOLDER = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
DETAILS = ("name", "email", "address", "reference", "what", "grounds")


class RequestError(SelfdataError, ValueError):
    """A request that does not exist, or a change it cannot take; the message says what to do."""


@dataclass(frozen=True)
class Request:
    id: int
    org: str
    org_name: str
    contact: dict[str, str]
    kind: str
    lang: str
    folder: str
    details: dict[str, str]
    zone: str
    created_at: int
    sent_at: int | None
    due_on: str | None
    extended_on: str | None
    reminded_at: int | None
    answered_at: int | None
    answer: dict[str, Any] | None
    closed_at: int | None

    def status(self, now: int) -> str:
        if self.answered_at is not None:
            return "answered"
        if self.closed_at is not None:
            return "closed"
        if self.sent_at is None:
            return "draft"
        due = self.deadline()
        return "overdue" if due is not None and deadlines.passed(due, self.zone, now) else "sent"

    def deadline(self) -> date | None:
        day = self.extended_on or self.due_on
        return date.fromisoformat(day) if day else None

    def letter(self, now: int) -> dict[str, str]:
        sent = self.sent_at if self.sent_at is not None else now
        due = self.deadline() or deadlines.due_on(sent, self.zone)
        return letters.render(
            self.kind, self.lang, self.org_name, self.contact, self.details, deadlines.local_day(sent, self.zone), due
        )

    def to_json(self, now: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "org": self.org,
            "org_name": self.org_name,
            "contact": self.contact,
            "kind": self.kind,
            "article": letters.ARTICLE[self.kind],
            "lang": self.lang,
            "folder": self.folder,
            "zone": self.zone,
            "status": self.status(now),
            "created_at": iso(self.created_at),
            "sent_at": iso(self.sent_at) if self.sent_at is not None else None,
            "due_on": self.due_on,
            "extended_on": self.extended_on,
            "deadline": (d := self.deadline()) and d.isoformat(),
            "reminded_at": iso(self.reminded_at) if self.reminded_at is not None else None,
            "answered_at": iso(self.answered_at) if self.answered_at is not None else None,
            "answer": self.answer,
            "details": self.details,
        }


_COLUMNS = (
    "id, org, org_name, contact, kind, lang, folder, details, zone, created_at, sent_at, due_on, extended_on,"
    " reminded_at, answered_at, answer, closed_at"
)


def _request(row: tuple[Any, ...]) -> Request:
    values = list(row)
    values[3] = orjson.loads(values[3])
    values[7] = orjson.loads(values[7])
    values[15] = orjson.loads(values[15]) if values[15] else None
    return Request(*values)


class RequestStore:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def all(self) -> list[Request]:
        rows = self.vault.conn.execute(f"SELECT {_COLUMNS} FROM vrm_requests ORDER BY id DESC").fetchall()
        return [_request(r) for r in rows]

    def get(self, request_id: int) -> Request:
        row = self.vault.conn.execute(f"SELECT {_COLUMNS} FROM vrm_requests WHERE id=?", (request_id,)).fetchone()
        if row is None:
            raise RequestError(f"no request {request_id}: selfdata requests list shows them")
        return _request(row)

    def create(
        self,
        org: Organisation,
        kind: str,
        lang: str,
        zone: str,
        details: dict[str, str],
        folder: str | None = None,
    ) -> Request:
        if kind not in letters.KINDS:
            raise RequestError(f"{kind!r} is not a kind of request: use one of {', '.join(letters.KINDS)}")
        if lang not in letters.LANGS:
            raise RequestError(f"{lang!r}: letters are in {' or '.join(letters.LANGS)}")
        deadlines.zone(zone)
        unknown = sorted(set(details) - set(DETAILS))
        if unknown:
            raise RequestError(f"no detail {unknown[0]!r}: a request takes {', '.join(DETAILS)}")
        if kind == "rectification" and not details.get("what"):
            raise RequestError("a rectification says what is wrong and what it should say (--what)")
        folder = folder or org.id
        if not FOLDER.fullmatch(folder):
            raise RequestError(f"{folder!r} cannot be an inbox folder: use lower-case letters, digits, '.', '-', '_'")
        check_source(folder)
        with self.vault.writer.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO vrm_requests (org, org_name, contact, kind, lang, folder, details, zone, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    org.id,
                    org.name,
                    orjson.dumps(org.contact()).decode(),
                    kind,
                    lang,
                    folder,
                    orjson.dumps(details).decode(),
                    zone,
                    now_ms(),
                ),
            )
            new_id = int(cur.lastrowid or 0)
        return self.get(new_id)

    def mark_sent(self, request_id: int, at_ms: int) -> Request:
        req = self.get(request_id)
        if req.answered_at is not None or req.closed_at is not None:
            raise RequestError(f"request {request_id} is {req.status(now_ms())} already")
        if at_ms > now_ms() + 60_000:
            raise RequestError("a request cannot be sent in the future: give the time it was sent")
        due = deadlines.due_on(at_ms, req.zone)
        with self.vault.writer.transaction() as conn:
            conn.execute(
                "UPDATE vrm_requests SET sent_at=?, due_on=?, extended_on=NULL, reminded_at=NULL WHERE id=?",
                (at_ms, due.isoformat(), request_id),
            )
        return self.get(request_id)

    def extend(self, request_id: int) -> Request:
        """The organisation gave notice of the two-month extension (art. 12(3))."""
        req = self.get(request_id)
        if req.sent_at is None:
            raise RequestError(f"request {request_id} has not been sent: selfdata requests sent {request_id}")
        day = deadlines.due_on(req.sent_at, req.zone, extended=True)
        with self.vault.writer.transaction() as conn:
            conn.execute(
                "UPDATE vrm_requests SET extended_on=?, reminded_at=NULL WHERE id=?", (day.isoformat(), request_id)
            )
        return self.get(request_id)

    def close(self, request_id: int) -> Request:
        self.get(request_id)
        with self.vault.writer.transaction() as conn:
            conn.execute("UPDATE vrm_requests SET closed_at=? WHERE id=? AND closed_at IS NULL", (now_ms(), request_id))
        return self.get(request_id)

    def overdue_unreminded(self, now: int) -> list[Request]:
        return [r for r in self.all() if r.status(now) == "overdue" and r.reminded_at is None]

    def mark_reminded(self, request_id: int, at_ms: int) -> None:
        with self.vault.writer.transaction() as conn:
            conn.execute(
                "UPDATE vrm_requests SET reminded_at=? WHERE id=? AND reminded_at IS NULL", (at_ms, request_id)
            )

    def link_answers(self) -> list[Request]:
        """Mark answered the open requests whose folder's source has imported something since:
        each successful import run answers the oldest open request of its folder."""
        answered = []
        linked = {
            run
            for (answer,) in self.vault.conn.execute("SELECT answer FROM vrm_requests WHERE answer IS NOT NULL")
            for run in orjson.loads(answer).get("runs", [])
        }
        for req in sorted(self.all(), key=lambda r: r.id):
            if req.answered_at is not None or req.closed_at is not None:
                continue
            rows = self.vault.conn.execute(
                "SELECT id, ended_at, new, changed, unchanged, detail FROM runs WHERE source=? AND kind='import'"
                " AND status='ok' AND started_at>=? ORDER BY id",
                (req.folder, req.created_at),
            ).fetchall()
            runs = [r for r in rows if r[0] not in linked]
            if not runs:
                continue
            answer = {
                "source": req.folder,
                "runs": [r[0] for r in runs],
                "files": [orjson.loads(r[5]).get("file") for r in runs if r[5]],
                "records": sum(r[2] + r[3] + r[4] for r in runs),
                "new": sum(r[2] for r in runs),
            }
            linked.update(answer["runs"])
            with self.vault.writer.transaction() as conn:
                conn.execute(
                    "UPDATE vrm_requests SET answered_at=?, answer=? WHERE id=? AND answered_at IS NULL",
                    (max(r[1] or 0 for r in runs), orjson.dumps(answer).decode(), req.id),
                )
            answered.append(self.get(req.id))
        return answered

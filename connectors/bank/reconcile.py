"""Pending to booked: which pending transactions the newly booked ones replace.

Banks report a card payment first as *pending*, then days later as *booked*, often under
another id and with a reworded description. A connector cannot read the store, so it keeps
the pending transactions it emitted in its checkpoint state (`Tracker`) and, at the end of a
complete sync, asks `settle` which of them to delete:

1. A booked transaction that reuses a pending one's key replaced it in place (the upsert
   did it): the pending one is simply no longer tracked, nothing is deleted.
2. A pending transaction the bank still reports in this sync ("seen") is kept, whatever its
   age: the bank says it is still pending.
3. A pending transaction the bank no longer reports ("gone") is matched to a booked one of
   this sync with the same account and exactly the same amount, booked from 1 day before to
   `window_days` after the pending date, and
   - whose description is similar (`similarity` >= `min_similarity`), or
   - which is its only possible partner on both sides (one gone pending, one booked).
   Each booked transaction replaces at most one pending one and each pending one is
   replaced at most once. Among acceptable pairs the most similar description wins, then
   the nearest date, then the earlier pending date, then the keys, so the outcome never
   depends on the order the bank listed things in. Two equal pending payments (same
   account, amount and description) are interchangeable: one booked transaction deletes
   exactly one of them; the other waits for its own booked transaction.
4. A gone pending transaction left unmatched is deleted once it is more than
   `max_age_days` old (the authorisation was released, or the booked one could not be
   recognised, e.g. a restaurant bill booked with the tip added).

Matching only decides *when* a gone pending record disappears (now, or after
`max_age_days`); a pending transaction the bank still reports is never deleted. Nothing here
does I/O: `settle` and `similarity` are pure functions.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from difflib import SequenceMatcher
from typing import Any

# Words that say how a payment was made rather than who was paid.
_NOISE = frozenset(
    "pos card debit credit purchase payment pending visa mastercard maestro contactless pmt trx txn "
    "ach sepa pay paid kartenzahlung lastschrift cb carte paiement achat compra pago the inc ltd llc".split()
)
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class Entry:
    """A transaction as reconciliation sees it."""

    key: str
    account: str
    amount: Decimal
    on: date
    description: str = ""

    def to_state(self) -> list[str]:
        return [self.account, str(self.amount), self.on.isoformat(), self.description]

    @classmethod
    def from_state(cls, key: str, value: Any) -> Entry:
        account, amount, on, description = value
        return cls(key, str(account), Decimal(str(amount)), date.fromisoformat(on), str(description))


@dataclass(frozen=True)
class Policy:
    window_days: int = 7
    max_age_days: int = 10
    min_similarity: float = 0.5


@dataclass(frozen=True)
class Settlement:
    matched: dict[str, str]  # pending key -> the booked key that replaced it
    expired: list[str]
    remaining: dict[str, Entry]

    @property
    def deleted(self) -> list[str]:
        return sorted(self.matched) + self.expired


def words(text: str) -> list[str]:
    """The description's words, lower case, without digits, punctuation or payment jargon."""
    folded = unicodedata.normalize("NFKD", text).casefold()
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return [w for w in _WORD.findall(folded) if len(w) > 1 and w not in _NOISE]


def similarity(a: str, b: str) -> float:
    """0 (unrelated) to 1 (same payee): 1 when one description's words contain the other's."""
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return 0.0
    if set(wa) <= set(wb) or set(wb) <= set(wa):
        return 1.0
    return SequenceMatcher(None, " ".join(wa), " ".join(wb)).ratio()


def settle(
    pending: Mapping[str, Entry],
    seen: Collection[str],
    booked: Iterable[Entry],
    today: date,
    policy: Policy = Policy(),
) -> Settlement:
    """Which tracked pending transactions to delete at the end of a complete sync."""
    gone = {k: p for k, p in pending.items() if k not in seen}
    pairs: list[tuple[Entry, Entry, float]] = []
    for b in sorted({b.key: b for b in booked}.values(), key=lambda e: e.key):
        for p in gone.values():
            lag = (b.on - p.on).days
            if p.account == b.account and p.amount == b.amount and -1 <= lag <= policy.window_days:
                pairs.append((p, b, similarity(p.description, b.description)))
    per_pending = Counter(p.key for p, _, _ in pairs)
    per_booked = Counter(b.key for _, b, _ in pairs)
    acceptable = [
        (p, b, s)
        for p, b, s in pairs
        if s >= policy.min_similarity or (per_pending[p.key] == 1 and per_booked[b.key] == 1)
    ]
    acceptable.sort(key=lambda t: (-t[2], abs((t[1].on - t[0].on).days), t[0].on, t[0].key, t[1].key))
    matched: dict[str, str] = {}
    used: set[str] = set()
    for p, b, _ in acceptable:
        if p.key not in matched and b.key not in used:
            matched[p.key] = b.key
            used.add(b.key)
    expired = sorted(k for k, p in gone.items() if k not in matched and (today - p.on).days > policy.max_age_days)
    dropped = set(matched) | set(expired)
    return Settlement(matched, expired, {k: p for k, p in pending.items() if k not in dropped})


@dataclass
class Tracker:
    """The reconciliation bookkeeping a connector keeps in its checkpoint state.

    `pending`: pending transactions emitted and not yet replaced (state key "pending").
    `seen` and `booked`: what the sync under way saw (state key "reconcile"), kept across a
    resumed sync. Only booked transactions that could replace a tracked pending one (same
    account and amount) are remembered, so the state stays small.
    """

    pending: dict[str, Entry] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    booked: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def load(cls, state: Mapping[str, Any]) -> Tracker:
        run = state.get("reconcile") or {}
        return cls(
            pending={k: Entry.from_state(k, v) for k, v in (state.get("pending") or {}).items()},
            seen=set(run.get("seen", [])),
            booked={k: Entry.from_state(k, v) for k, v in (run.get("booked") or {}).items()},
        )

    def dump(self) -> dict[str, Any]:
        return {
            "pending": {k: e.to_state() for k, e in sorted(self.pending.items())},
            "reconcile": {
                "seen": sorted(self.seen),
                "booked": {k: e.to_state() for k, e in sorted(self.booked.items())},
            },
        }

    def observe(self, entry: Entry, *, pending: bool) -> None:
        if pending:
            self.pending[entry.key] = entry
            self.seen.add(entry.key)
        elif entry.key in self.pending:  # booked under the pending one's key: updated in place
            del self.pending[entry.key]
            self.seen.discard(entry.key)
        elif any(p.account == entry.account and p.amount == entry.amount for p in self.pending.values()):
            self.booked[entry.key] = entry

    def settle(self, today: date, policy: Policy = Policy()) -> list[str]:
        """End of a complete sync: the pending keys to delete; the sync's notes are cleared."""
        result = settle(self.pending, self.seen, self.booked.values(), today, policy)
        self.pending = result.remaining
        self.seen, self.booked = set(), {}
        return result.deleted

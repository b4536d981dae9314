"""What a vendor asks the user in the middle of a login (a code sent by SMS, a validation in its
app), and how the answer reaches the next run: `selfdata source authorize NAME` and the
dashboard ask it, the connector keeps the answer as a secret, the next run uses it once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Question:
    id: str  # what the answer fills in at the vendor, e.g. "otp"
    text: str  # the question as the vendor puts it, e.g. "Code sent by SMS to 06 ** ** ** 12"
    secret: bool = True  # the answer is hidden while it is typed
    confirm_only: bool = False  # nothing to type: the user acts elsewhere (the bank's app), then confirms

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "secret": self.secret, "confirm_only": self.confirm_only}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Question:
        return cls(
            id=str(doc["id"]),
            text=str(doc.get("text") or doc["id"]),
            secret=bool(doc.get("secret", True)),
            confirm_only=bool(doc.get("confirm_only", False)),
        )

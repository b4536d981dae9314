"""Runs one woob module for selfdata, inside the Python where the user installed woob.

Started as `PYTHON woob_runner.py CONFIG_FILE`: it needs only the standard library and woob
(selfdata is not installed there). It writes one JSON object a line on stdout: `account`,
`transaction`, `document`, then `done`; or one `error` with a kind selfdata maps to its own
errors, and exit status 3. Amounts are decimal strings, dates ISO 8601.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import os
import sys
from typing import Any

STOP_AFTER_OLDER = 50  # modules list history newest first, not always strictly: a margin


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=_plain, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def fail(kind: str, message: str) -> None:
    emit({"type": "error", "kind": kind, "message": message[:1000]})
    sys.exit(3)


def value(obj: Any, name: str) -> Any:
    """A woob field, None when NotLoaded or NotAvailable."""
    from woob.capabilities.base import empty

    got = getattr(obj, name, None)
    if empty(got):
        return None
    if isinstance(got, enum.Enum):  # woob's account and transaction types
        return got.value
    return got


def bank(backend: Any, since: dict[str, str], default_since: str | None) -> None:
    from woob.capabilities.bank import CapBank

    if not backend.has_caps(CapBank):
        fail("module", "this woob module has no bank capability (CapBank)")
    for account in backend.iter_accounts():
        acc_id = str(value(account, "id") or "")
        emit(
            {
                "type": "account",
                "id": acc_id,
                "label": value(account, "label"),
                "number": value(account, "number"),
                "iban": value(account, "iban"),
                "currency": value(account, "currency"),
                "balance": value(account, "balance"),
                "kind": value(account, "type"),
                "bank_name": value(account, "bank_name"),
            }
        )
        cutoff_text = since.get(acc_id) or default_since
        cutoff = dt.date.fromisoformat(cutoff_text) if cutoff_text else None
        older = 0
        for tr in backend.iter_history(account):
            when = value(tr, "date")
            if isinstance(when, dt.datetime):
                when = when.date()
            if cutoff is not None and isinstance(when, dt.date) and when < cutoff:
                older += 1
                if older >= STOP_AFTER_OLDER:
                    break
                continue
            older = 0
            emit(
                {
                    "type": "transaction",
                    "account": acc_id,
                    "id": value(tr, "id"),
                    "date": when,
                    "rdate": value(tr, "rdate"),
                    "vdate": value(tr, "vdate"),
                    "amount": value(tr, "amount"),
                    "raw": value(tr, "raw"),
                    "label": value(tr, "label"),
                    "category": value(tr, "category"),
                    "kind": value(tr, "type"),
                    "coming": bool(value(tr, "coming")),
                    "original_amount": value(tr, "original_amount"),
                    "original_currency": value(tr, "original_currency"),
                }
            )


def documents(backend: Any) -> None:
    from woob.capabilities.bill import CapDocument

    if not backend.has_caps(CapDocument):
        fail("module", "this woob module has no document capability (CapDocument)")
    for sub in backend.iter_subscription():
        for doc in backend.iter_documents(sub):
            emit(
                {
                    "type": "document",
                    "subscription": value(sub, "id"),
                    "subscription_label": value(sub, "label"),
                    "id": value(doc, "id"),
                    "date": value(doc, "date"),
                    "label": value(doc, "label"),
                    "kind": value(doc, "type"),
                    "format": value(doc, "format"),
                    "total_price": value(doc, "total_price"),
                    "currency": value(doc, "currency"),
                }
            )


def main() -> None:
    # Run as a script, its own folder comes first on sys.path: selfdata's woob.py there is not woob
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    with open(sys.argv[1], encoding="utf-8") as f:
        conf = json.load(f)
    try:
        from woob import exceptions as wx
        from woob.core import Woob, WoobBase
    except ImportError as err:
        fail("no_woob", f"woob is not installed in this Python ({sys.executable}): {err}")
    try:
        woob = WoobBase(modules_path=conf["modules_path"]) if conf.get("modules_path") else Woob()
        try:
            backend = woob.build_backend(conf["module"], params=conf["params"], name="selfdata")
        except Exception as err:  # ModuleLoadError, a missing or wrong parameter
            fail("module", f"{type(err).__name__}: {err}")
        if "bank" in conf["capabilities"]:
            bank(backend, conf.get("since") or {}, conf.get("default_since"))
        if "document" in conf["capabilities"]:
            documents(backend)
    except wx.BrowserIncorrectPassword as err:
        fail("auth", str(err) or "the bank refused the login or password")
    except (wx.NeedInteractiveFor2FA, wx.BrowserInteraction) as err:
        fail("2fa", str(err) or "the bank asks for a second factor")
    except wx.ActionNeeded as err:
        fail("action", str(err) or "the bank asks you to do something on its website")
    except (wx.BrowserUnavailable, ConnectionError, TimeoutError) as err:
        fail("unavailable", f"{type(err).__name__}: {err}")
    except Exception as err:
        fail("other", f"{type(err).__name__}: {err}")
    emit({"type": "done"})


if __name__ == "__main__":
    main()

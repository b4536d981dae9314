"""Runs one woob module for selfdata, inside the Python where the user installed woob.

Started as `PYTHON woob_runner.py CONFIG_FILE`: it needs only the standard library and woob
(selfdata is not installed there). It writes one JSON object a line on stdout: `account`,
`transaction`, `subscription`, `document` (its file written beside the config file), `storage`
(the module's saved state: the website's session), then `done`; or `question` (the website asks
the user something: a 2FA code) or `error` with a kind selfdata maps to its own errors, and exit
status 3. Amounts are decimal strings, dates ISO 8601.

Answers reach the module as woob's own `woob` application gives them: set into the backend's
config values the question named (`backend.config["otp"].set(...)`), `resume` for a validation
in the bank's app, and `request_information` set to `{}` when the user is there to answer.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import json
import os
import sys
from typing import Any

STOP_AFTER_OLDER = 50  # modules list history newest first, not always strictly: a margin
MAX_FILE_BYTES = 32 * 1024 * 1024  # as selfdata's MAX_ORIGINAL_BYTES


class Stop(Exception):
    """Ends the run with one `error` or `question` line, after the module's state is saved."""

    def __init__(self, line: dict[str, Any]) -> None:
        super().__init__(line.get("message", ""))
        self.line = line


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=_plain, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def error(kind: str, message: str, **extra: Any) -> Stop:
    return Stop({"type": "error", "kind": kind, "message": message[:1000], **extra})


def value(obj: Any, name: str) -> Any:
    """A woob field, None when NotLoaded or NotAvailable."""
    from woob.capabilities.base import empty

    got = getattr(obj, name, None)
    if empty(got):
        return None
    if isinstance(got, enum.Enum):  # woob's account and transaction types
        return got.value
    return got


class DictStorage:
    """woob's IStorage over a dict that selfdata keeps encrypted between runs (`storage` line)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def _node(self, path: tuple[Any, ...], create: bool) -> Any:
        node: Any = self.data
        for part in path:
            if not isinstance(node, dict) or (part not in node and not create):
                return None
            node = node.setdefault(part, {})
        return node

    def load(self, what: str, name: str, default: Any = None) -> None:
        node = self._node((what,), True)
        node[name] = {**json.loads(json.dumps(default or {})), **(node.get(name) or {})}

    def save(self, what: str, name: str) -> None:
        return None  # written once, at the end of the run

    def set(self, what: str, name: str, *args: Any) -> None:
        *path, key, val = (what, name, *args)
        self._node(tuple(path), True)[key] = json.loads(json.dumps(val, default=_plain))

    def delete(self, what: str, name: str, *args: Any) -> None:
        *path, key = (what, name, *args)
        node = self._node(tuple(path), False)
        if isinstance(node, dict):
            node.pop(key, None)

    def get(self, what: str, name: str, *args: Any, **kwargs: Any) -> Any:
        node = self._node((what, name, *args), False)
        return kwargs.get("default") if node is None else node


def bank(backend: Any, since: dict[str, str], default_since: str | None, check: bool) -> None:
    from woob.capabilities.bank import CapBank

    if not backend.has_caps(CapBank):
        raise error("module", "this woob module has no bank capability (CapBank)")
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
        if not check:
            history(backend, account, acc_id, since.get(acc_id) or default_since)


def history(backend: Any, account: Any, acc_id: str, cutoff_text: str | None) -> None:
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


def documents(backend: Any, conf: dict[str, Any], check: bool) -> None:
    from woob.capabilities.bill import CapDocument

    if not backend.has_caps(CapDocument):
        raise error("module", "this woob module has no document capability (CapDocument)")
    have = set(conf.get("have_files") or ())
    for sub in backend.iter_subscription():
        sub_id = str(value(sub, "id") or "")
        emit(
            {
                "type": "subscription",
                "id": sub_id,
                "label": value(sub, "label"),
                "subscriber": value(sub, "subscriber"),
                "validity": value(sub, "validity"),
                "renewdate": value(sub, "renewdate"),
            }
        )
        if check:
            continue
        for doc in backend.iter_documents(sub):
            line = {
                "type": "document",
                "subscription": sub_id,
                "subscription_label": value(sub, "label"),
                "id": value(doc, "id"),
                "date": value(doc, "date"),
                "label": value(doc, "label"),
                "kind": value(doc, "type"),
                "format": value(doc, "format"),
                "number": value(doc, "number"),
                "url": value(doc, "url"),
                "has_file": bool(value(doc, "has_file")),
                "total_price": value(doc, "total_price"),
                "currency": value(doc, "currency"),
                "duedate": value(doc, "duedate"),
                "startdate": value(doc, "startdate"),
                "finishdate": value(doc, "finishdate"),
            }
            if line["has_file"] and f"{sub_id}:{line['id']}" not in have:
                line.update(download(backend, doc, conf["files_dir"]))
            emit(line)


def download(backend: Any, doc: Any, folder: str) -> dict[str, Any]:
    """The document's file written to `folder`: its path and SHA-256, or why there is none."""
    try:
        data = backend.download_document(doc)
    except NotImplementedError:
        return {"file_error": "the module cannot download this document"}
    except Exception as err:  # DocumentNotFound, a website error: the other documents go on
        return {"file_error": f"{type(err).__name__}: {err}"[:300]}
    if not isinstance(data, (bytes, bytearray)) or not data:
        return {"file_error": "the website sent no file"}
    if len(data) > MAX_FILE_BYTES:
        return {"file_error": f"the file has {len(data):,} bytes, over the {MAX_FILE_BYTES // (1 << 20)} MiB kept"}
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(folder, digest)
    with open(path, "wb") as f:
        f.write(data)
    return {"file": path, "sha256": digest, "size": len(data)}


def configure(backend: Any, conf: dict[str, Any]) -> None:
    """Answers and interactivity into the backend's config, as woob's console applications do."""
    from woob.tools.value import Value

    config = backend.config
    if conf.get("interactive") and "request_information" in config and config["request_information"].get() is None:
        config["request_information"].set({})
    for key, answer in (conf.get("answers") or {}).items():
        if key not in config:  # a question about a value the module does not declare
            config[key] = Value(key, transient=True, required=False, default=None)
        config[key].set(True if key == "resume" else answer)


def question(err: Any) -> Stop:
    fields = [
        {
            "id": f.id,
            "text": f.label or f.description or f.id,
            "secret": bool(getattr(f, "masked", False)) or bool(getattr(f, "transient", False)),
        }
        for f in err.fields
        if getattr(f, "id", None)
    ]
    if not fields:
        return error("action", str(err) or "the website asks a question selfdata cannot name")
    return Stop({"type": "question", "fields": fields, "message": str(err)[:1000]})


def run(backend: Any, conf: dict[str, Any], wx: Any) -> None:
    try:
        if "bank" in conf["capabilities"]:
            bank(backend, conf.get("since") or {}, conf.get("default_since"), bool(conf.get("check")))
        if "document" in conf["capabilities"]:
            documents(backend, conf, bool(conf.get("check")))
    except Stop:
        raise
    except wx.BrowserIncorrectPassword as err:
        raise error("auth", str(err) or "the website refused the login", bad_fields=list(err.bad_fields or ())) from err
    except wx.BrowserQuestion as err:  # SentOTPQuestion, OfflineOTPQuestion, any question with its values
        raise question(err) from err
    except wx.DecoupledValidation as err:  # AppValidation: the user validates in the bank's app
        raise Stop(
            {
                "type": "question",
                "fields": [{"id": "resume", "text": str(err) or "Validate in your bank's app", "confirm_only": True}],
                "message": str(err)[:1000],
            }
        ) from err
    except (wx.AppValidationCancelled, wx.AppValidationExpired) as err:
        raise error("refused", str(err) or "the validation was cancelled or expired") from err
    except wx.NeedInteractiveFor2FA as err:
        raise error("2fa", str(err) or "the website asks for a second factor") from err
    except wx.BrowserRedirect as err:
        raise error("action", f"the website wants a login in a browser at {err.url}") from err
    except wx.CaptchaQuestion as err:
        raise error("action", "the website asks to solve a captcha") from err
    except (wx.ActionNeeded, wx.BrowserInteraction) as err:
        raise error("action", str(err) or "the website asks you to do something there") from err
    except (wx.BrowserUnavailable, ConnectionError, TimeoutError) as err:
        raise error("unavailable", f"{type(err).__name__}: {err}") from err
    except Exception as err:
        raise error("other", f"{type(err).__name__}: {err}") from err


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
        emit(
            {
                "type": "error",
                "kind": "no_woob",
                "message": f"woob is not installed in this Python ({sys.executable}): {err}",
            }
        )
        sys.exit(3)
    storage = DictStorage(conf.get("storage") or {})
    before = json.dumps(storage.data, sort_keys=True)
    try:
        woob = WoobBase(modules_path=conf["modules_path"]) if conf.get("modules_path") else Woob()
        backend = woob.build_backend(conf["module"], params=conf["params"], storage=storage, name="selfdata")
    except Exception as err:  # ModuleLoadError, a missing or wrong parameter
        emit({"type": "error", "kind": "module", "message": f"{type(err).__name__}: {err}"[:1000]})
        sys.exit(3)
    stop: Stop | None = None
    try:
        configure(backend, conf)
    except ValueError as err:  # an answer the value's own check refuses (six digits expected...)
        stop = error("refused", f"the answer does not fit: {err}")
    if stop is None:
        try:
            run(backend, conf, wx)
        except Stop as err:
            stop = err
    try:
        backend.deinit()  # dumps the browser's state (session cookies, a 2FA in progress) to storage
    except Exception:
        pass  # a state that cannot be saved costs one more login, never the run
    if json.dumps(storage.data, sort_keys=True, default=_plain) != before:
        emit({"type": "storage", "value": storage.data})
    if stop is not None:
        emit(stop.line)
        sys.exit(3)
    emit({"type": "done"})


if __name__ == "__main__":
    main()

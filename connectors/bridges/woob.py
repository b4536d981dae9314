"""Any woob module as a selfdata source: the banks (and billers) woob's modules reach.

woob (woob.tech) keeps hundreds of modules for banks' and suppliers' websites. The user
installs woob and its modules in a Python of their own (pipx install woob; woob update),
and names that Python and a module. Each run writes the module's parameters to a private
temporary file, runs `woob_runner.py` with that Python, and reads its JSON lines: accounts
become bank.account, history bank.transaction (pending ones replaced once booked), and
documents woob.document. woob stays out of the daemon's process: its dependencies, its
memory and a module that hangs end with the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from ..sdk import (
    AuthFailed,
    Checkpoint,
    Connector,
    Context,
    Delete,
    Fatal,
    Field,
    Item,
    Record,
    Retryable,
    Secret,
    datasets,
)
from .process import ChildProcess, IdleTimeout, child_env
from .singer import json_object, leaf_strings, private_file

RUNNER = Path(__file__).with_name("woob_runner.py")
CAPABILITIES = ("bank", "document")
OVERLAP_DAYS = 7  # late-booked transactions dated before the last run
KINDS = {
    "checking": "checking",
    "savings": "savings",
    "card": "credit_card",
    "loan": "loan",
    "mortgage": "loan",
    "consumer_credit": "loan",
    "revolving_credit": "loan",
    "market": "investment",
    "pea": "investment",
    "life_insurance": "investment",
    "deposit": "savings",
    "livret_a": "savings",
    "joint": "checking",
}


def _capabilities(value: Any) -> str | None:
    unknown = [c for c in _words(value) if c not in CAPABILITIES]
    return f"unknown capability {', '.join(unknown)} (known: {', '.join(CAPABILITIES)})" if unknown else None


def _words(value: Any) -> list[str]:
    return [w.strip() for w in str(value or "").split(",") if w.strip()]


@dataclass(frozen=True)
class WoobSettings:
    python: str
    module: str
    params: dict[str, str]
    secret_values: tuple[str, ...]
    capabilities: tuple[str, ...]
    modules_path: str | None
    history_days: int
    idle_timeout_s: float


class WoobModule(Connector):
    name = "woob"
    title = "woob module"
    category = "bank"
    datasets = ("bank.account", "bank.transaction", "woob.document")
    schedule = "daily"
    description = (
        "Runs a woob module you installed (pipx install woob; woob update): your accounts and history "
        "from the bank's website, and documents (bills) from suppliers' modules."
    )
    fields = (
        Field("python", "The Python where woob is installed, e.g. ~/.local/pipx/venvs/woob/bin/python", type="path"),
        Field("module", "The woob module, e.g. creditmutual, boursorama, bp"),
        Field(
            "config", "The module's settings that are not secret, as a JSON object", required=False, check=json_object
        ),
        Secret("secret_config", 'The module\'s secret settings as a JSON object, e.g. {"login": ..., "password": ...}'),
        Field("capabilities", "What to read: bank, document (comma-separated)", default="bank", check=_capabilities),
        Field(
            "modules_path", "A folder of woob modules to use instead of the installed ones", required=False, type="path"
        ),
        Field("history_days", "How far back the first run reads", type="int", default=90),
        Field("idle_timeout_s", "Stop a module that sends nothing for this long", type="int", default=600),
    )

    def declares(self, dataset: str) -> bool:
        return dataset in self.datasets

    def settings_of(self, ctx: Context) -> WoobSettings:
        s = ctx.settings
        python = os.path.expanduser(str(s.get("python") or "python3"))
        if os.sep not in python:
            python = shutil.which(python) or python
        module = str(s.get("module") or "").strip()
        if not module:
            raise Fatal(
                f"the source {ctx.source!r} names no woob module; set it with: selfdata source edit {ctx.source}"
            )
        secret_text = ctx.secrets.get("secret_config") or "{}"
        if json_object(secret_text):  # never repeated: it is secret
            raise Fatal(f"the source {ctx.source!r}: secret_config must be a JSON object")
        secret = json.loads(secret_text)
        params = {**json.loads(s.get("config") or "{}"), **secret}
        return WoobSettings(
            python=python,
            module=module,
            params={k: str(v) for k, v in params.items()},
            secret_values=tuple(leaf_strings(secret)),
            capabilities=tuple(_words(s.get("capabilities") or "bank")),
            modules_path=os.path.expanduser(str(s["modules_path"])) if s.get("modules_path") else None,
            history_days=int(s.get("history_days") or 90),
            idle_timeout_s=float(s.get("idle_timeout_s") or 600),
        )

    async def check(self, ctx: Context) -> None:
        conf = self.settings_of(ctx)
        async for _ in self._messages(ctx, conf, {"since": {}, "default_since": ctx.now().date().isoformat()}):
            pass  # a login and the account list: the credentials work

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        conf = self.settings_of(ctx)
        today = ctx.now().date()
        newest: dict[str, str] = dict(state.get("newest") or {})
        since = {a: (date.fromisoformat(d) - timedelta(days=OVERLAP_DAYS)).isoformat() for a, d in newest.items()}
        request = {"since": since, "default_since": (today - timedelta(days=conf.history_days)).isoformat()}
        currencies: dict[str, str] = {}
        seen: Counter[str] = Counter()
        pending_before = set(state.get("pending") or ())
        pending_now: set[str] = set()
        count = 0
        async for msg in self._messages(ctx, conf, request):
            kind = msg.get("type")
            if kind == "account":
                account = self._account(conf, msg, ctx.now())
                currencies[str(msg.get("id"))] = account.data["currency"]
                yield account
            elif kind == "transaction":
                record = self._transaction(conf, msg, currencies, seen)
                if record is None:
                    continue
                if record.data["status"] == "pending":
                    pending_now.add(record.key)
                else:
                    day = record.data["booked_on"]
                    acc = record.data["account_id"]
                    newest[acc] = max(newest.get(acc, day), day)
                yield record
                count += 1
                if count % 500 == 0:
                    ctx.progress(count, None, f"{count:,} transactions from woob")
            elif kind == "document":
                yield self._document(conf, msg)
        gone = tuple(sorted(pending_before - pending_now))
        if gone:  # booked since, or dropped by the bank
            yield Delete("bank.transaction", gone)
        yield Checkpoint({"newest": newest, "pending": sorted(pending_now)})

    async def _messages(
        self, ctx: Context, conf: WoobSettings, request: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        folder = Path(tempfile.mkdtemp(prefix="selfdata-woob-"))  # 0700
        what = f"the woob module {conf.module}"
        proc = ChildProcess(
            [conf.python, str(RUNNER), str(folder / "run.json")],
            what=what,
            log=ctx.log,
            secrets=lambda: [*conf.secret_values, *ctx.secrets.values()],
            env=child_env(),
        )
        try:
            private_file(
                folder / "run.json",
                {
                    "module": conf.module,
                    "params": conf.params,
                    "capabilities": list(conf.capabilities),
                    "modules_path": conf.modules_path,
                    **request,
                },
            )
            await proc.start()
            async for number, raw in proc.lines(conf.idle_timeout_s):
                try:
                    msg = json.loads(raw)
                except ValueError:
                    raise Fatal(f"{what} sent something that is not JSON at line {number}") from None
                if not isinstance(msg, dict):
                    raise Fatal(f"{what} sent something that is not a JSON object at line {number}")
                if msg.get("type") == "error":
                    raise self._error(conf, str(msg.get("kind")), proc.redacted(str(msg.get("message") or "")))
                if msg.get("type") == "done":
                    return
                yield msg
            code = await proc.wait()
        except IdleTimeout:
            raise Retryable(f"{what} sent nothing for {conf.idle_timeout_s:.0f} s and was stopped") from None
        finally:
            await proc.close()
            shutil.rmtree(folder, ignore_errors=True)
        tail = proc.last_stderr()
        raise Retryable(f"{what} ended before it was done (exit status {code})" + (f": {tail}" if tail else ""))

    def _error(self, conf: WoobSettings, kind: str, message: str) -> Exception:
        what = f"the woob module {conf.module}"
        if kind == "auth":
            return AuthFailed(f"{what}: the website refused the login: {message}")
        if kind == "2fa":
            return Fatal(
                f"{what}: the bank asks for a second factor ({message}); selfdata cannot answer it in an unattended"
                " run yet: use a module or bank setting without it, or the bank's files (OFX, camt) through the inbox"
            )
        if kind == "action":
            return Fatal(f"{what}: the bank asks you to act on its website first: {message}")
        if kind == "unavailable":
            return Retryable(f"{what}: the website is unavailable: {message}")
        if kind == "no_woob":
            return Fatal(f"{message}; install it there (pipx install woob) or set python to the right one")
        if kind == "module":
            return Fatal(f"{what} could not be loaded: {message} (is it installed? woob update)")
        return Fatal(f"{what} failed: {message}")

    def _account(self, conf: WoobSettings, msg: dict[str, Any], now: datetime) -> Record:
        acc = str(msg.get("id") or "")
        if not acc:
            raise Fatal(f"the woob module {conf.module} listed an account without an id")
        data = datasets.BankAccount.make(
            account_id=acc,
            institution=msg.get("bank_name") or conf.module,
            name=msg.get("label"),
            iban=msg.get("iban"),
            currency=str(msg.get("currency") or "EUR"),
            kind=KINDS.get(str(msg.get("kind") or "").lower(), "other"),
            balance=msg.get("balance"),
            balance_at=now,
        )
        return Record("bank.account", f"{conf.module}:{acc}", now, data, raw=msg)

    def _transaction(
        self, conf: WoobSettings, msg: dict[str, Any], currencies: dict[str, str], seen: Counter[str]
    ) -> Record | None:
        if msg.get("date") is None or msg.get("amount") is None:
            return None
        acc = str(msg.get("account"))
        day = date.fromisoformat(str(msg["date"])[:10])
        pending = bool(msg.get("coming"))
        status = "pending" if pending else "booked"
        if msg.get("id"):
            key = f"{conf.module}:{acc}:{msg['id']}"
        else:  # most websites give no id: the same day, amount and text, numbered in the bank's order
            ident = f"{acc}|{day}|{msg['amount']}|{msg.get('raw') or msg.get('label') or ''}|{status}"
            seen[ident] += 1
            digest = hashlib.sha256(f"{ident}|{seen[ident]}".encode()).hexdigest()[:24]
            key = f"{conf.module}:{acc}:{'pending:' if pending else ''}{digest}"
        data = datasets.BankTransaction.make(
            account_id=acc,
            booked_on=None if pending else day,
            value_on=date.fromisoformat(str(msg["vdate"])[:10]) if msg.get("vdate") else None,
            amount=str(msg["amount"]),
            currency=currencies.get(acc, "EUR"),
            description=msg.get("raw") or msg.get("label"),
            counterparty=msg.get("label") if msg.get("raw") and msg.get("label") != msg.get("raw") else None,
            status=status,
            category=msg.get("category"),
        )
        return Record("bank.transaction", key, datetime.combine(day, time(12), UTC), data, raw=msg)

    def _document(self, conf: WoobSettings, msg: dict[str, Any]) -> Record:
        day = str(msg.get("date") or "")[:10]
        ts = datetime.combine(date.fromisoformat(day), time(12), UTC) if day else datetime.now(UTC)
        key = f"{conf.module}:{msg.get('subscription')}:{msg.get('id')}"
        return Record("woob.document", key, ts, {k: v for k, v in msg.items() if k != "type"}, raw=msg)

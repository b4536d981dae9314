"""Any woob module as a selfdata source: the banks (and billers) woob's modules reach.

woob (woob.tech) keeps hundreds of modules for banks' and suppliers' websites. The user
installs woob and its modules in a Python of their own (pipx install woob; woob update),
and names that Python and a module. Each run writes the module's parameters to a private
temporary file, runs `woob_runner.py` with that Python, and reads its JSON lines: accounts
become bank.account, history bank.transaction (pending ones replaced once booked),
subscriptions bill.subscription and documents bill.document, their files (PDF) kept in the
vault. woob stays out of the daemon's process: its dependencies, its memory and a module that
hangs end with the run.

A second factor: an unattended run never starts one (woob's modules then raise
NeedInteractiveFor2FA); the user runs `selfdata source authorize NAME`, which runs the module
as woob's own application does when someone is there, asks the website's question (the SMS
code) and gives the answer to the next run, once. The module's saved state (the website's
session, the login in progress) is kept encrypted between runs like a credential.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
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
    Original,
    Question,
    Retryable,
    Secret,
    UserActionNeeded,
)
from . import woob_records as records
from .process import ChildProcess, IdleTimeout, child_env
from .singer import json_object, leaf_strings, private_file

RUNNER = Path(__file__).with_name("woob_runner.py")
CAPABILITIES = ("bank", "document")
OVERLAP_DAYS = 7  # late-booked transactions dated before the last run
# Secrets the bridge keeps beside the user's: the module's state, the question asked, its answer.
STORAGE, QUESTION, ANSWER = "woob_storage", "woob_question", "woob_answer"


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


@dataclass
class _Run:
    """What one run of the module needs beyond the settings."""

    request: dict[str, Any]
    interactive: bool = False
    check: bool = False


class WoobModule(Connector):
    name = "woob"
    title = "woob module"
    category = "bank"
    datasets = ("bank.account", "bank.transaction", "bill.subscription", "bill.document")
    schedule = "daily"
    asks_questions = True
    description = (
        "Runs a woob module you installed (pipx install woob; woob update): your accounts and history "
        "from the bank's website, and bills and documents (their PDF kept) from suppliers' modules."
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
        """A login and the account (or subscription) list: the credentials work."""
        await self._login(ctx, interactive=False)

    async def _login(self, ctx: Context, *, interactive: bool) -> None:
        conf = self.settings_of(ctx)
        async for _ in self._messages(ctx, conf, _Run({}, interactive=interactive, check=True)):
            pass

    async def question(self, ctx: Context) -> Question | None:
        pending = self._unanswered(ctx)
        if pending is not None:
            return pending
        try:  # as woob's application does with someone there: the website may now send its code
            await self._login(ctx, interactive=True)
        except UserActionNeeded:
            pending = self._unanswered(ctx)
            if pending is not None:
                return pending
            raise
        return None

    async def answer(self, ctx: Context, question_id: str, answer: str) -> Question | None:
        answers = {**json.loads(ctx.secrets.get(ANSWER) or "{}"), question_id: answer.strip() or "yes"}
        await ctx.update_secret(ANSWER, json.dumps(answers))
        return self._unanswered(ctx)

    @staticmethod
    def _unanswered(ctx: Context) -> Question | None:
        """The first value of the website's pending question not answered yet (woob may ask several at once)."""
        answered = json.loads(ctx.secrets.get(ANSWER) or "{}")
        asked = json.loads(ctx.secrets.get(QUESTION) or "[]")
        return next((Question.from_json(q) for q in asked if q["id"] not in answered), None)

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        conf = self.settings_of(ctx)
        today = ctx.now().date()
        newest: dict[str, str] = dict(state.get("newest") or {})
        since = {a: (date.fromisoformat(d) - timedelta(days=OVERLAP_DAYS)).isoformat() for a, d in newest.items()}
        files: dict[str, list[str]] = dict(state.get("files") or {})  # document key -> [sha256, name] kept
        first_seen: dict[str, str] = dict(state.get("first_seen") or {})  # subscription key -> when first listed
        request = {
            "since": since,
            "default_since": (today - timedelta(days=conf.history_days)).isoformat(),
            "have_files": [k.split(":", 1)[1] for k in files],
        }
        currencies: dict[str, str] = {}
        seen: Counter[str] = Counter()
        pending_before = set(state.get("pending") or ())
        pending_now: set[str] = set()
        old_documents: list[str] = []
        count = 0

        def progress(done: bool = False) -> Checkpoint:
            pending = pending_now if done else pending_now | pending_before  # not deleted yet: kept to delete
            return Checkpoint(
                {
                    **state,
                    "newest": dict(newest),
                    "pending": sorted(pending),
                    "files": dict(files),
                    "first_seen": dict(first_seen),
                    **({"bill_datasets": True} if done and "document" in conf.capabilities else {}),
                }
            )

        after_account = False
        async for msg in self._messages(ctx, conf, _Run(request)):
            kind = msg.get("type")
            if kind in ("account", "subscription") and after_account:
                yield progress()  # the account before is read to its end
            after_account = kind == "account" or (after_account and kind == "transaction")
            if kind == "account":
                account = records.account(conf.module, msg, ctx.now())
                currencies[str(msg.get("id"))] = account.data["currency"]
                yield account
            elif kind == "transaction":
                record = records.transaction(conf.module, msg, currencies, seen)
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
            elif kind == "subscription":
                key = f"{conf.module}:{msg.get('id')}"
                first_seen.setdefault(key, ctx.now().isoformat())
                yield records.subscription(conf.module, msg, datetime.fromisoformat(first_seen[key]))
            elif kind == "document":
                key = records.document_key(conf.module, msg)
                if msg.get("file"):
                    name = records.file_name(msg)
                    yield Original(Path(str(msg["file"])), name)  # stored before we go on
                    files[key] = [str(msg["sha256"]), name]
                    Path(str(msg["file"])).unlink(missing_ok=True)
                elif msg.get("file_error"):
                    ctx.log.warning("%s: no file kept for %s: %s", conf.module, key, msg["file_error"])
                sub_seen = first_seen.get(f"{conf.module}:{msg.get('subscription')}")
                fallback = datetime.fromisoformat(sub_seen) if sub_seen else ctx.now()
                kept = files.get(key)
                yield records.document(conf.module, msg, (kept[0], kept[1]) if kept else None, fallback)
                if not state.get("bill_datasets"):
                    old_documents.append(key)
        gone = tuple(sorted(pending_before - pending_now))
        if gone:  # booked since, or dropped by the bank
            yield Delete("bank.transaction", gone)
        if old_documents:  # what earlier versions kept as woob.document is now bill.document
            yield Delete("woob.document", tuple(old_documents))
        yield progress(done=True)

    async def _messages(self, ctx: Context, conf: WoobSettings, run: _Run) -> AsyncIterator[dict[str, Any]]:
        folder = Path(tempfile.mkdtemp(prefix="selfdata-woob-"))  # 0700
        what = f"the woob module {conf.module}"
        answers = json.loads(ctx.secrets.get(ANSWER) or "{}")
        proc = ChildProcess(
            [conf.python, str(RUNNER), str(folder / "run.json")],
            what=what,
            log=ctx.log,
            secrets=lambda: [*conf.secret_values, *ctx.secrets.values()],
            env=child_env(),
        )
        try:
            (folder / "files").mkdir(mode=0o700)
            private_file(
                folder / "run.json",
                {
                    "module": conf.module,
                    "params": conf.params,
                    "capabilities": list(conf.capabilities),
                    "modules_path": conf.modules_path,
                    "storage": json.loads(ctx.secrets.get(STORAGE) or "{}"),
                    "answers": answers,
                    "interactive": run.interactive or bool(answers),
                    "check": run.check,
                    "files_dir": str(folder / "files"),
                    **run.request,
                },
            )
            if answers:  # used once, whatever the website says of it
                await ctx.forget_secret(ANSWER)
                await ctx.forget_secret(QUESTION)
            await proc.start()
            async for number, raw in proc.lines(conf.idle_timeout_s):
                try:
                    msg = json.loads(raw)
                except ValueError:
                    raise Fatal(f"{what} sent something that is not JSON at line {number}") from None
                if not isinstance(msg, dict):
                    raise Fatal(f"{what} sent something that is not a JSON object at line {number}")
                kind = msg.get("type")
                if kind == "storage":
                    await ctx.update_secret(STORAGE, json.dumps(msg.get("value") or {}))
                elif kind == "question":
                    raise await self._asked(ctx, conf, msg, proc.redacted)
                elif kind == "error":
                    raise self._error(ctx, conf, msg, answers, proc.redacted(str(msg.get("message") or "")))
                elif kind == "done":
                    return
                else:
                    yield msg
            code = await proc.wait()
        except IdleTimeout:
            raise Retryable(f"{what} sent nothing for {conf.idle_timeout_s:.0f} s and was stopped") from None
        finally:
            await proc.close()
            shutil.rmtree(folder, ignore_errors=True)
        tail = proc.last_stderr()
        raise Retryable(f"{what} ended before it was done (exit status {code})" + (f": {tail}" if tail else ""))

    async def _asked(self, ctx: Context, conf: WoobSettings, msg: dict[str, Any], redacted: Any) -> UserActionNeeded:
        """The website asks the user something: kept for `selfdata source authorize`, which asks it."""
        fields = [f for f in msg.get("fields") or () if isinstance(f, dict) and f.get("id")]
        if not fields:
            return UserActionNeeded(f"the woob module {conf.module}: the website asks something selfdata cannot name")
        questions = [
            Question(
                id=str(f["id"]),
                text=redacted(str(f.get("text") or f["id"])),
                secret=bool(f.get("secret", True)),
                confirm_only=bool(f.get("confirm_only")),
            )
            for f in fields
        ]
        await ctx.update_secret(QUESTION, json.dumps([q.to_json() for q in questions]))
        question = questions[0]
        return UserActionNeeded(
            f"the woob module {conf.module}: the website asks: {question.text}; answer it with: "
            f"selfdata source authorize {ctx.source}"
        )

    def _error(
        self, ctx: Context, conf: WoobSettings, msg: dict[str, Any], answers: dict[str, str], message: str
    ) -> Exception:
        what = f"the woob module {conf.module}"
        kind = str(msg.get("kind"))
        bad = set(msg.get("bad_fields") or ())
        again = f"ask for a new one with: selfdata source authorize {ctx.source}"
        if kind == "refused" or (kind == "auth" and answers and (not bad or bad & set(answers))):
            return UserActionNeeded(f"{what}: the website refused the answer ({message}); {again}")
        if kind == "auth":
            return AuthFailed(f"{what}: the website refused the login: {message}")
        if kind == "2fa":
            return UserActionNeeded(
                f"{what}: the bank asks for a second factor ({message}), which an unattended run does not start;"
                f" start it with: selfdata source authorize {ctx.source} (it asks you the code)"
            )
        if kind == "action":
            return UserActionNeeded(f"{what}: the bank asks you to act on its website first: {message}")
        if kind == "unavailable":
            return Retryable(f"{what}: the website is unavailable: {message}")
        if kind == "no_woob":
            return Fatal(f"{message}; install it there (pipx install woob) or set python to the right one")
        if kind == "module":
            return Fatal(f"{what} could not be loaded: {message} (is it installed? woob update)")
        return Fatal(f"{what} failed: {message}")

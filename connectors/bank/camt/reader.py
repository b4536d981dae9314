"""Reading a camt file: the prolog checked by defusedxml, entries cut out of the byte
stream, the rest of the document built by the C ElementTree parser in bounded memory."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from connectors.sdk import Fragment, ImportFailed, InvalidRecord, Record
from connectors.sdk.limits import bounded

from ..amounts import is_iban
from .fast import fast_entry, quick_records
from .mapping import account_record, entry_records, identity
from .nodes import KINDS, local_name, text_at, to_data

CHUNK = 1 << 20
PROLOG = 1 << 16
MESSAGES = {
    "BkToCstmrStmt": ("053", "Stmt"),
    "BkToCstmrAcctRpt": ("052", "Rpt"),
    "BkToCstmrDbtCdtNtfctn": ("054", "Ntfctn"),
}


class _Block:
    """A statement (report, notification) being read: its header, then its entries."""

    def __init__(self) -> None:
        self.header: dict[str, Any] = {}
        self.account: dict[str, Any] | None = None


_DECLARED = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_SINGLE_BYTE = {b"iso-8859-1", b"iso8859-1", b"latin1", b"latin-1", b"windows-1252", b"cp1252", b"iso-8859-15"}


def _honest_encoding(head: bytes) -> bytes:
    """A file declared Latin-1 whose bytes are UTF-8 (an export tool that lies) is read as
    UTF-8: real Latin-1 text is almost never valid UTF-8. Anything else is left to the
    parser, which refuses bytes invalid in the declared encoding with their position."""
    m = _DECLARED.match(head)
    if m is None or m.group(1).lower() not in _SINGLE_BYTE or head.isascii():
        return head
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:  # not just a character cut at the end of the block
            return head
    return head[: m.start(1)] + b"UTF-8" + head[m.end(1) :]


_PLACEHOLDER = b"<SelfdataNtry/>"
_ASCII_COMPATIBLE = {
    "utf-8",
    "utf8",
    "us-ascii",
    "ascii",
    "iso-8859-1",
    "latin-1",
    "latin1",
    "windows-1252",
    "cp1252",
    "iso-8859-15",
}


class _RootStarted(Exception):
    pass


class _RootSeen:
    """A parser target that stops the prolog check at the root element's start."""

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        raise _RootStarted

    def end(self, tag: str) -> None:
        return None

    def data(self, data: str) -> None:
        return None

    def close(self) -> None:
        return None


class Reader:
    def __init__(self, path: Path, timezone: str) -> None:
        self.path, self.timezone = path, timezone
        self.message: tuple[str, str] | None = None
        self.block: _Block | None = None
        self.accounts: dict[str, Record] = {}
        self.seen: dict[str, int] = {}
        self.entries = 0
        self.queue: deque[tuple[int, bytes]] = deque()
        self.codec = "utf-8"
        self.splicing = False
        self.offset = self.skip = 0

    def fail(self, message: str) -> ImportFailed:
        return ImportFailed(f"{self.path.name}: {message}")

    def records(self) -> Iterator[Record | Fragment]:
        builder = ET.TreeBuilder()
        # Everything the parser builds goes under this element, which the reader holds:
        # finished entries are taken from the tree (and dropped) between two chunks.
        holder = builder.start("holder", {})
        parser = ET.XMLParser(target=builder)
        with self.path.open("rb") as raw, bounded(raw, self.path.name, "markup") as f:
            data = _honest_encoding(f.read(PROLOG))
            self._check_prolog(data)
            self._encoding(data)
            carry, eof = b"", False
            while not eof:
                buf = carry + data
                data = f.read(CHUNK)
                eof = not data
                feed, carry = self._splice(buf, eof)
                try:
                    parser.feed(feed)
                except ET.ParseError as err:
                    raise self._parse_error(err) from None
                yield from self._drain(holder, final=False)
            try:
                parser.close()
            except ET.ParseError as err:
                raise self._parse_error(err) from None
        yield from self._drain(holder, final=True)
        if self.message is None:
            raise self.fail("no camt.052, camt.053 or camt.054 message in the file")
        if self.entries == 0 and not self.accounts:
            raise self.fail("the message holds no account, balance or entry")
        yield from self.accounts.values()

    def _encoding(self, head: bytes) -> None:
        declared = _DECLARED.match(head)
        name = declared.group(1).decode("ascii").lower() if declared else "utf-8"
        self.codec = name
        # The XML declaration is the one instruction allowed: scanning starts after it.
        self.skip = head.find(b"?>") + 2 if declared else 0
        body = head[self.skip :]
        # Entries are cut out of the byte stream, which needs an ASCII-compatible encoding
        # and no markup that could hide a "<Ntry>" (comments, CDATA, instructions).
        self.splicing = name.replace("_", "-") in _ASCII_COMPATIBLE and b"<!" not in body and b"<?" not in body
        self.offset = 0

    def _splice(self, buf: bytes, eof: bool) -> tuple[bytes, bytes]:
        """The bytes to give the XML parser, with each complete `<Ntry>...</Ntry>` replaced
        by a placeholder (as many line ends, so positions in errors stay right) and queued
        for the entry reader; and the bytes to keep for the next block."""
        base, skip = self.offset, self.skip
        self.skip = 0
        if self.splicing and (buf.find(b"<!", skip) >= 0 or buf.find(b"<?", skip) >= 0):
            self.splicing = False
        if not self.splicing:
            self.offset += len(buf)
            return buf, b""
        out: list[bytes] = []
        pos = 0
        while True:
            start = buf.find(b"<Ntry>", pos)
            end = buf.find(b"</Ntry>", start) if start >= 0 else -1
            if end < 0:
                break
            block = buf[start : end + 7]
            out += (buf[pos:start], _PLACEHOLDER, b"\n" * block.count(b"\n"))
            self.queue.append((base + start, block))
            pos = end + 7
        cut = len(buf)
        if not eof:
            if start >= 0:
                cut = start  # an entry not complete yet
            else:
                lt = buf.rfind(b"<", pos)
                if lt >= 0 and b"<Ntry>".startswith(buf[lt:]):
                    cut = lt
        out.append(buf[pos:cut])
        self.offset += cut
        return b"".join(out), buf[cut:]

    def _parse_error(self, err: ET.ParseError) -> ImportFailed:
        line, column = getattr(err, "position", (0, 0))
        reason = str(err).split(":")[0]
        if "no element found" in str(err) or "unclosed token" in str(err):
            reason += " (the file is truncated)"
        return self.fail(f"line {line}, column {column}: malformed XML: {reason}")

    def _check_prolog(self, head: bytes) -> None:
        """Refuse DTDs, entity declarations and external references (defusedxml) before
        any byte reaches the main parser. They can only come before the root element."""
        seen = _RootSeen()
        parser = DET.XMLParser(target=seen, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        try:
            parser.feed(head)
        except _RootStarted:
            return
        except DefusedXmlException as err:
            raise self.fail(
                f"DTDs and entity declarations are not allowed in camt files ({type(err).__name__})"
            ) from None
        except ET.ParseError as err:
            raise self._parse_error(err) from None
        except LookupError:
            declared = _DECLARED.match(head)
            name = declared.group(1).decode("ascii") if declared else "?"
            raise self.fail(f"the XML declaration names the encoding {name!r}, which is not a known one") from None
        raise self.fail("no XML element in the first 64 KiB: this is not a camt file")

    def _drain(self, holder: ET.Element, final: bool) -> Iterator[Record | Fragment]:
        if not len(holder):
            return
        document = holder[0]
        if local_name(document.tag) != "Document" and self.message is None:
            raise self.fail(f"the root element is <{local_name(document.tag)}>, not a camt <Document>")
        if not len(document):
            return
        message = document[0]
        if self.message is None:
            known = MESSAGES.get(local_name(message.tag))
            if known is None:
                raise self.fail(f"<{local_name(message.tag)}> is not a camt.052, camt.053 or camt.054 message")
            self.message = known
        block_name = self.message[1]
        while len(message):
            block = message[0]
            done = final or len(message) > 1
            if local_name(block.tag) == block_name:
                yield from self._block(block, done)
            if not done:
                return
            del message[0]

    def _block(self, element: ET.Element, done: bool) -> Iterator[Record | Fragment]:
        state = self.block = self.block or _Block()
        ready = len(element) if done else len(element) - 1
        for child in element[:ready]:
            name = local_name(child.tag)
            if name == "SelfdataNtry":
                offset, block = self.queue.popleft()
                yield from self._entry(state, block, offset)
            elif name == "Ntry":
                yield from self._entry(state, ET.tostring(child, encoding="unicode"), -1, to_data(child))
            elif name == "Bal":
                state.header.setdefault("Bal", []).append(to_data(child))
            else:
                state.header[name] = to_data(child) if len(child) else (child.text or "")
        del element[:ready]
        if done:
            self._finish(state)
            self.block = None

    def _account(self, state: _Block) -> dict[str, Any]:
        if state.account is None:
            acct = state.header.get("Acct")
            if not isinstance(acct, dict):
                raise self.fail(
                    f"a <{self.message[1] if self.message else 'Stmt'}> without its <Acct> before the entries"
                )
            iban = text_at(acct, "Id", "IBAN")
            other = text_at(acct, "Id", "Othr", "Id")
            acct_id = (iban or other or "").replace(" ", "")
            if not acct_id:
                raise self.fail("an account without an IBAN or other id")
            account: dict[str, Any] = {"id": acct_id}
            if iban and is_iban(iban):
                account["iban"] = acct_id
            for key, value in (
                ("currency", (text_at(acct, "Ccy") or "").upper() or None),
                ("name", text_at(acct, "Nm")),
                ("servicer", text_at(acct, "Svcr", "FinInstnId", "Nm") or text_at(acct, "Svcr", "FinInstnId", "BIC")),
                ("kind", KINDS.get(text_at(acct, "Tp", "Cd") or "")),
            ):
                if value:
                    account[key] = value
            state.account = account
        return state.account

    def _entry(
        self, state: _Block, block: bytes | str, offset: int, entry: dict[str, Any] | None = None
    ) -> list[Record]:
        self.entries += 1
        account = self._account(state)
        try:
            text = block if isinstance(block, str) else block.decode(self.codec)
        except UnicodeDecodeError:
            raise self.fail(
                f"line {self._line(offset)}: entry {self.entries}: bytes that are not {self.codec}"
            ) from None
        raw: dict[str, Any] = {"account": account, "entry": text}
        try:
            records = quick_records(raw) if entry is None else None
            if records is None:
                records = self._records(state, raw, entry, offset)
            elif records:
                records = self._apart(raw, records, None)
        except (ValueError, KeyError, TypeError, InvalidRecord) as err:
            raise self.fail(f"entry {self.entries} (account {account['id']}): {err}") from None
        return records

    def _records(self, state: _Block, raw: dict[str, Any], entry: dict[str, Any] | None, offset: int) -> list[Record]:
        if entry is None:
            entry = fast_entry(raw["entry"])
            if entry is None:
                try:
                    entry = to_data(ET.fromstring(raw["entry"]))
                except ET.ParseError as err:
                    line, column = getattr(err, "position", (1, 0))
                    at = self._line(offset) + line - 1
                    raise self.fail(f"line {at}, column {column}: malformed XML: {str(err).split(':')[0]}") from None
        if "BookgDt" not in entry and "ValDt" not in entry:
            raw["as_of"] = text_at(state.header, "CreDtTm") or ""
        ident = identity(raw["account"], entry)
        if ident is not None:
            n = self.seen[ident] = self.seen.get(ident, 0) + 1
            if n > 1:
                raw["occurrence"] = n
        records = entry_records(raw, entry)
        return self._apart(raw, records, entry) if records and ident is None else records

    def _apart(self, raw: dict[str, Any], records: list[Record], entry: dict[str, Any] | None) -> list[Record]:
        """A bank reference reused for another entry: keep both, apart (`#2`)."""
        digest = (
            hash((records[0].data["amount"], records[0].data["booked_on"]))
            if len(records) == 1
            else hash(tuple((r.data["amount"], r.data["booked_on"]) for r in records))
        )
        if self.seen.setdefault(records[0].key, digest) == digest:
            return records
        n = 2
        while self.seen.setdefault(f"{records[0].key}#{n}", digest) != digest:
            n += 1
        raw["occurrence"] = n
        return entry_records(raw, entry)

    def _line(self, offset: int) -> int:
        """The line of byte `offset` of the file (read again: only for error messages)."""
        if offset < 0:
            return 0
        with self.path.open("rb") as f:
            return f.read(offset).count(b"\n") + 1

    def _finish(self, state: _Block) -> None:
        if not state.header.get("Acct"):
            raise self.fail(f"a <{self.message[1] if self.message else 'Stmt'}> without <Acct>")
        raw = {"account": self._account(state), "balances": state.header.get("Bal", []), "timezone": self.timezone}
        try:
            record = account_record(raw)
        except (ValueError, KeyError, TypeError, InvalidRecord) as err:
            raise self.fail(f"balances of account {raw['account']['id']}: {err}") from None
        if record is None:
            return
        known = self.accounts.get(record.key)
        if known is None or known.ts <= record.ts:
            self.accounts[record.key] = record

"""One streaming tokenizer for OFX 1.x (SGML) and 2.x (XML): a small tree of the open
aggregates, a fragment for each transaction as it closes."""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from connectors.sdk import (
    Delete,
    Fragment,
    ImportFailed,
    InvalidRecord,
    Record,
)

from ..amounts import decode_text, ofx_no_date
from .fragments import normalize
from .invest import attach, securities_of, statement_fragments
from .mapping import CURRENCY, agg_of, text_of, transaction_record
from .text import add_child, cdata, charset_of, status_problem, unescape

CHUNK = 1 << 20
_TAG = re.compile(rb"(/?)([A-Za-z][A-Za-z0-9._:-]*)[ \t\r\n]*(/?)")
_LEAF = re.compile(rb"<([A-Za-z][A-Za-z0-9._:-]*)>([^<]*)")
_LEAF_TEXT = re.compile(r"<([A-Z][A-Z0-9._]*)>([^<]*)")  # upper-case tags: anything else takes the slow path
OPEN, CLOSE, EMPTY = 0, 1, 2
_XML_ENCODING = re.compile(rb"""<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
SNIFF_XML = re.compile(rb"\s*(?:<\?[^>]*\?>\s*|<!--.*?-->\s*|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>\s*)*<OFX>", re.S | re.I)
PROLOG = 1 << 16

STATEMENTS = {"STMTRS", "CCSTMTRS"}
RESPONSES = {"STMTTRNRS", "CCSTMTTRNRS", "INVSTMTTRNRS"}
# Subtrees selfdata does not import: dropped when they close instead of being kept.
DROPPED = {"INVSTMTMSGSRSV1", "SECLISTMSGSRSV1", "BANKTRANLISTP", "MKTGINFO"}


class Reader:
    """One pass over one file: tokens -> a small tree -> records as each transaction closes."""

    def __init__(self, path: Path, f: BinaryIO, timezone: str, invert: bool) -> None:
        self.path, self.f = path, f
        self.timezone, self.invert = timezone, invert
        self.encoding = "utf-8"
        self.tags: dict[bytes, tuple[int, str]] = {}
        # Open aggregates: [tag, node, absolute offset, explicitly a leaf-less aggregate]
        self.stack: list[tuple[str, dict[str, Any], int]] = []
        self.base = 0  # absolute offset of the buffer being scanned
        self.context: dict[str, Any] | None = None
        self.institution: str | None = None
        self.dtserver: str | None = None
        self.statements = 0
        self.done = False
        self.accounts: dict[str, tuple[Any, int, dict[str, Any]]] = {}
        self.leaf = ""  # the leaf element just read, whose closing tag may follow (SGML)
        self.seen: dict[str, int] = {}
        # Investment statements wait for the SECLIST that follows them (tickers, names).
        self.invested: list[tuple[int, Fragment]] = []
        self.securities: dict[tuple[str, str], dict[str, Any]] = {}
        self.cash_accounts: set[str] = set()  # investment accounts with cash movements

    def fail(self, offset: int, message: str) -> ImportFailed:
        return ImportFailed(f"{self.path.name}: line {self._line(offset)} (byte {offset}): {message}")

    def _line(self, offset: int) -> int:
        with self.path.open("rb") as f:
            lines, done = 1, 0
            while done < offset:
                block = f.read(min(CHUNK, offset - done))
                if not block:
                    break
                lines += block.count(b"\n")
                done += len(block)
        return lines

    def records(self) -> Iterator[Record | Fragment | Delete]:
        data = self.f.read(PROLOG)
        start = self._prolog(data)
        buf, self.base, eof = data[start:], start, False
        while not eof:
            more = self.f.read(CHUNK)
            eof = not more
            buf, whole = cdata(buf + more)
            if not whole and not eof:
                continue  # a CDATA section goes on in the next chunk
            consumed = yield from self._scan(buf, eof)
            self.base += consumed
            buf = buf[consumed:]
        if self.stack:
            tag, _, at = self.stack[-1]
            raise self.fail(at, f"the file ends inside <{tag}>: it is truncated or malformed")
        if not self.done:
            raise self.fail(self.base, "no <OFX> element: this is not an OFX statement")
        if self.statements == 0:
            raise self.fail(self.base, "no bank, credit-card or investment statement in the file")
        for _, offset, raw in self.accounts.values():
            yield self._normalize(Fragment("bank.account", raw), offset)
        yield from self._investments()

    def _investments(self) -> Iterator[Record]:
        """The investment statements' records, each with its security from the SECLIST."""
        seen: dict[tuple[str, str], Any] = {}
        latest: dict[str, tuple[Any, Record]] = {}
        for offset, fragment in self.invested:
            fragment = attach(fragment, self.securities)
            record = self._normalize(fragment, offset)
            if record.dataset == "invest.account":
                known = latest.get(record.key)
                if known is None or known[0] <= record.ts:
                    latest[record.key] = (record.ts, record)
                continue
            # An id given twice with other content (a broker reusing a FITID): keep both, apart.
            n, key = 1, record.key
            while seen.setdefault((record.dataset, key), record.data) != record.data:
                n += 1
                key = f"{record.key}#{n}"
            if n > 1:
                record = self._normalize(Fragment(fragment.dataset, {**fragment.raw, "occurrence": n}), offset)
            yield record
        for _, record in latest.values():
            yield record
        for ref in sorted(self.securities):
            raw = {**self.securities[ref], "timezone": self.timezone, "dtserver": self.dtserver}
            yield self._normalize(Fragment("invest.security", raw), self.base)

    def _prolog(self, data: bytes) -> int:
        start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise ImportFailed(f"{self.path.name}: UTF-16 OFX files are not supported")
        body = data[start:].lstrip()
        if body[:9].upper() == b"OFXHEADER":
            lt = data.find(b"<", start)
            if lt < 0:
                raise self.fail(len(data), "an OFX header with no body: the file is truncated")
            header: dict[str, str] = {}
            for line in data[start:lt].decode("latin-1").split():
                key, _, value = line.partition(":")
                header[key.strip().upper()] = value.strip()
            if header.get("DATA", "OFXSGML").upper() != "OFXSGML":
                raise self.fail(0, f"unknown OFX DATA:{header['DATA']}")
            self.encoding = charset_of(header)
            return lt
        declared = _XML_ENCODING.match(body)
        if declared:
            self.encoding = declared.group(1).decode("ascii").lower()
            if self.encoding.startswith("utf-16"):
                raise ImportFailed(f"{self.path.name}: UTF-16 OFX files are not supported")
        if not SNIFF_XML.match(body):
            raise self.fail(start, "this is not an OFX file (no OFX header and no <OFX> element)")
        return start

    def _tag(self, raw: bytes, offset: int) -> tuple[int, str]:
        """(OPEN, CLOSE or EMPTY, the upper-case name) of the inside of a tag, memoised."""
        known = self.tags.get(raw)
        if known is None:
            m = _TAG.fullmatch(raw)
            if m is None:
                raise self.fail(offset, f"malformed tag <{raw[:30].decode('latin-1')}>")
            kind = CLOSE if m.group(1) else EMPTY if m.group(3) else OPEN
            known = self.tags[raw] = (kind, m.group(2).upper().decode("ascii"))
        return known

    def _value(self, raw: bytes) -> str:
        text = raw.decode("ascii") if raw.isascii() else decode_text(raw, self.encoding)
        return unescape(text) if "&" in text else text

    def _scan(self, buf: bytes, eof: bool) -> Generator[Record | Fragment | Delete, None, int]:
        """Consume the complete tokens of `buf` (all of it at the end of the file) and
        return how many bytes were consumed (the generator's return value)."""
        parts = buf.split(b"<")
        head = parts[0]
        if head and not head.isspace():
            raise self.fail(self.base, f"text {head[:20]!r} outside any element")
        off = len(head)  # offset in buf of the '<' that starts parts[i]
        last = len(parts) if eof else len(parts) - 1
        stack, leaf, tags, i = self.stack, self.leaf, self.tags, 1
        while i < last:
            part = parts[i]
            inside, gt, text = part.partition(b">")
            known = tags.get(inside)
            if known is None:
                if inside[:1] in (b"!", b"?"):
                    after = self._markup(parts, i, last, off)
                    if after is None:
                        break  # the comment or instruction goes on in the next block
                    for j in range(i, after):
                        off += len(parts[j]) + 1
                    i, leaf = after, ""
                    continue
                if not gt:
                    raise self.fail(self.base + off, f"malformed tag <{part[:30].decode('latin-1')}")
                known = self._tag(inside, self.base + off)
            kind, name = known
            if name == "STMTTRN" and kind == OPEN and stack and not text.strip():
                nxt = self._fast_transaction(buf, parts, i, last, off)
                if nxt is not None:
                    i, off, leaf = nxt[0], nxt[1], ""
                    yield nxt[2]
                    continue
            if kind == OPEN:
                value = text.strip()
                if value:
                    if not stack:
                        raise self.fail(self.base + off, f"<{name}> outside the <OFX> element")
                    node = stack[-1][1]
                    if name in node:
                        add_child(node, name, self._value(value))
                    else:
                        node[name] = self._value(value)
                    leaf = name
                else:
                    leaf = ""
                    if self.done or (not stack and name != "OFX"):
                        raise self.fail(self.base + off, f"<{name}> outside the <OFX> element")
                    stack.append((name, {}, self.base + off))
                    if name in ("BANKTRANLIST", "INVTRANLIST"):
                        self.context = self._context(self.base + off)
            elif kind == CLOSE:
                if text and not text.isspace():
                    raise self.fail(self.base + off, f"text {text[:20]!r} after </{name}>")
                if name == leaf:
                    leaf = ""
                elif name == "STMTTRN" and stack and stack[-1][0] == "STMTTRN":
                    leaf = ""
                    _, node, at = stack.pop()
                    yield from self._transaction(node, at)
                else:
                    leaf = ""
                    yield from self._close(name, self.base + off)
            else:
                leaf = ""
                if not stack:
                    raise self.fail(self.base + off, f"<{name}/> outside the <OFX> element")
                add_child(stack[-1][1], name, "")
                if text and not text.isspace():
                    raise self.fail(self.base + off, f"text {text[:20]!r} after <{name}/>")
            off += len(part) + 1
            i += 1
        self.leaf = leaf
        return off

    def _fast_transaction(
        self, buf: bytes, parts: list[bytes], i: int, last: int, off: int
    ) -> tuple[int, int, Record] | None:
        """A STMTTRN made only of leaf elements (nearly all of them), read in one go.
        Returns (index of the next part, its offset, the record), or None to take the
        general path (nested aggregates, duplicates, a correction, or the block's end not
        read yet)."""
        end = buf.find(b"</STMTTRN>", off)
        if end < 0:
            return None
        block = buf[off + 9 : end]
        lts = block.count(b"<")
        k = i + lts + 1  # the part of </STMTTRN>
        if k >= last or b"<STMTTRN>" in block or self.context is None:
            return None
        closes = block.count(b"</")
        node: dict[str, Any]
        if block.isascii() and b"&" not in block:
            pairs = _LEAF_TEXT.findall(block.decode("ascii"))
            if lts != len(pairs) + closes:
                return None
            node = {tag: value.strip() for tag, value in pairs}
            count = len(pairs)
            if not all(node.values()):
                return None
        else:
            raw_pairs = _LEAF.findall(block)
            if lts != len(raw_pairs) + closes:
                return None
            node = {}
            for raw_tag, raw_value in raw_pairs:
                value = raw_value.strip()
                known = self.tags.get(raw_tag)
                if not value or known is None:
                    return None
                node[known[1]] = self._value(value)
            count = len(raw_pairs)
        if len(node) != count or "CORRECTFITID" in node:
            return None
        tail = parts[k][9:]
        if tail and not tail.isspace():
            return None
        record = self._record(self.context, node, self.base + off)
        if record is None:
            return None
        return k + 1, end + 1 + len(parts[k]), record

    def _markup(self, parts: list[bytes], i: int, last: int, off: int) -> int | None:
        """A comment or processing instruction starting at parts[i]; the index of the part
        after it, or None when it does not end before parts[last]."""
        part = parts[i]
        if part.startswith(b"!--"):
            closer = b"-->"
        elif part.startswith(b"?"):
            closer = b"?>"
        elif part.startswith(b"![CDATA["):  # complete sections were read as text before
            raise self.fail(self.base + off, "the file ends inside a CDATA section: it is truncated")
        else:
            raise self.fail(self.base + off, "declarations (<!DOCTYPE, <!ENTITY, CDATA) are not allowed in OFX")
        j = i
        while j < last:
            at = parts[j].find(closer, 3 if j == i else 0)
            if at >= 0:
                rest = parts[j][at + len(closer) :]
                if rest and not rest.isspace():
                    raise self.fail(self.base + off, f"text {rest[:20]!r} outside any element")
                return j + 1
            j += 1
        if last == len(parts):
            raise self.fail(self.base + off, "the file ends inside a comment or instruction")
        return None

    def _context(self, offset: int) -> dict[str, Any] | None:
        for tag, node, _ in reversed(self.stack):
            if tag in STATEMENTS or tag == "INVSTMTRS":
                card, invest = tag == "CCSTMTRS", tag == "INVSTMTRS"
                acct = agg_of(node, "INVACCTFROM" if invest else "CCACCTFROM" if card else "BANKACCTFROM")
                acct_id = text_of(acct, "ACCTID")
                currency = text_of(node, "CURDEF")
                if not acct_id or not currency:
                    raise self.fail(offset, f"<{tag}> has no account id or no CURDEF before its transactions")
                if not CURRENCY.fullmatch(currency.upper()):
                    raise self.fail(offset, f"CURDEF {currency!r} is not an ISO 4217 currency code")
                context: dict[str, Any] = {
                    "id": acct_id,
                    "type": "CREDITCARD" if card else "INVESTMENT" if invest else (text_of(acct, "ACCTTYPE") or ""),
                    "currency": currency.upper(),
                }
                if text_of(acct, "BANKID"):
                    context["bank_id"] = text_of(acct, "BANKID")
                if text_of(acct, "BROKERID"):
                    context["broker_id"] = text_of(acct, "BROKERID")
                if self.invert:
                    context["invert"] = True
                return context
        return None

    def _close(self, name: str, offset: int) -> Iterator[Record | Fragment | Delete]:
        stack = self.stack
        depth = next((i for i in range(len(stack) - 1, -1, -1) if stack[i][0] == name), -1)
        if depth < 0:
            raise self.fail(offset, f"</{name}> closes no open element")
        while len(stack) > depth + 1:
            # Never closed: it was an element with an empty value (SGML), not an aggregate.
            tag, node, _ = stack.pop()
            parent = stack[-1][1]
            parent[tag] = ""
            for key, value in node.items():
                add_child(parent, key, value)
        tag, node, at = stack.pop()
        parent = stack[-1][1] if stack else {}
        if tag == "STMTTRN":
            yield from self._transaction(node, at)
        elif tag in STATEMENTS:
            self._statement(node, at)
        elif tag == "INVSTMTRS":
            self._invest_statement(node, at)
        elif tag == "SECLIST":
            self.securities.update(securities_of(node))
        elif tag == "SONRS":
            self._signon(node, at)
        elif tag in RESPONSES:
            self._response(node, at)
        elif tag == "OFX":
            self.done = True
        elif tag in DROPPED or tag == "INVBANKTRAN":
            pass
        else:
            add_child(parent, tag, node or "")

    def _normalize(self, fragment: Fragment, offset: int) -> Record:
        try:
            record = normalize(fragment)
        except (ValueError, KeyError, TypeError, InvalidRecord) as err:
            raise self.fail(offset, str(err)) from None
        assert record is not None
        return (
            record
            if record.raw is not None
            else Record(record.dataset, record.key, record.ts, record.data, fragment.raw)
        )

    def _transaction(self, node: dict[str, Any], offset: int) -> Iterator[Record | Fragment | Delete]:
        context = self.context
        if context is None:
            raise self.fail(offset, "<STMTTRN> outside the transaction list of a statement")
        correct = text_of(node, "CORRECTFITID")
        if correct:
            yield Delete("bank.transaction", (f"{context['id']}:{correct}",))
            if (text_of(node, "CORRECTACTION") or "").upper() == "DELETE":
                return
        record = self._record(context, node, offset)
        if record is not None:
            yield record

    def _record(self, context: dict[str, Any], node: dict[str, Any], offset: int) -> Record | None:
        raw: dict[str, Any] = {"account": context, "trn": node}
        try:
            record = transaction_record(raw)
        except (ValueError, KeyError, TypeError, InvalidRecord) as err:
            raise self.fail(offset, str(err)) from None
        if record is None:
            return None
        if context["type"] == "INVESTMENT":
            self.cash_accounts.add(context["id"])
        # A few banks reuse a FITID for different transactions: keep both, apart.
        digest = hash((record.data["amount"], record.data["booked_on"], record.data["description"]))
        if self.seen.setdefault(record.key, digest) != digest:
            n = 2
            while self.seen.setdefault(f"{record.key}#{n}", digest) != digest:
                n += 1
            raw["occurrence"] = n
            record = transaction_record(raw)
        return record

    def _statement(self, node: dict[str, Any], offset: int) -> None:
        self.statements += 1
        self.context = None
        context = self._context_of(node, offset)
        raw: dict[str, Any] = {
            "account": context,
            "institution": self.institution,
            "ledger": agg_of(node, "LEDGERBAL"),
            "available": agg_of(node, "AVAILBAL"),
            "as_of": next(
                (
                    d
                    for d in (text_of(agg_of(node, "BANKTRANLIST"), "DTEND"), self.dtserver)
                    if d and not ofx_no_date(d)
                ),
                "19700101",
            ),
            "timezone": self.timezone,
        }
        record = self._normalize(Fragment("bank.account", raw), offset)
        known = self.accounts.get(record.key)
        if known is None or known[0] <= record.ts:
            self.accounts[record.key] = (record.ts, offset, raw)

    def _invest_statement(self, node: dict[str, Any], offset: int) -> None:
        """An INVSTMTRS: its fragments wait for the file's SECLIST; its cash is a bank account."""
        self.statements += 1
        self.context = None
        context = self._context_of(node, offset, "INVSTMTRS")
        common = {"institution": self.institution, "timezone": self.timezone, "dtserver": self.dtserver}
        self.invested += [(offset, f) for f in statement_fragments(node, context, common)]
        cash = text_of(agg_of(node, "INVBAL"), "AVAILCASH")
        if cash is None and context["id"] not in self.cash_accounts:
            return
        as_of = next((d for d in (text_of(node, "DTASOF"), self.dtserver) if d and not ofx_no_date(d)), "19700101")
        raw: dict[str, Any] = {
            "account": context,
            "institution": self.institution,
            "ledger": {"BALAMT": cash, "DTASOF": as_of} if cash is not None else {},
            "available": {},
            "as_of": as_of,
            "timezone": self.timezone,
        }
        record = self._normalize(Fragment("bank.account", raw), offset)
        known = self.accounts.get(record.key)
        if known is None or known[0] <= record.ts:
            self.accounts[record.key] = (record.ts, offset, raw)

    def _context_of(self, node: dict[str, Any], offset: int, tag: str | None = None) -> dict[str, Any]:
        tag = tag or ("CCSTMTRS" if "CCACCTFROM" in node else "STMTRS")
        self.stack.append((tag, node, offset))
        try:
            context = self._context(offset)
        finally:
            self.stack.pop()
        assert context is not None
        return context

    def _signon(self, node: dict[str, Any], offset: int) -> None:
        self.institution = text_of(agg_of(node, "FI"), "ORG")
        self.dtserver = text_of(node, "DTSERVER")
        problem = status_problem(node)
        if problem:
            code, meaning, message = problem
            raise ImportFailed(
                f"{self.path.name}: the bank refused the sign-on (OFX error {code}, {meaning})"
                + (f": {message}" if message else "")
                + ". The file holds no statement: log in to the bank again and download a new one."
            )

    def _response(self, node: dict[str, Any], offset: int) -> None:
        problem = status_problem(node)
        if problem:
            code, meaning, message = problem
            raise self.fail(
                offset,
                f"the bank answered a statement request with OFX error {code} ({meaning})"
                + (f": {message}" if message else ""),
            )

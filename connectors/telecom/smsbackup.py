"""Android "SMS Backup & Restore" exports: calls-*.xml and sms-*.xml (SMS and MMS).

The files follow the app's documented format (synctech.com.au, "Fields in XML backup
files"): one element per call or message with attributes read as-is from Android's
databases; dates in milliseconds; MMS with <parts> (SMIL, text, attachments as base64 in
`data`) and <addrs> (137 from, 151 to, 130 cc, 129 bcc).

The file is parsed with defusedxml's iterparse and each element is dropped once read, so
memory stays bounded whatever the number of messages. Attachment data never reaches the
store: a byte filter in front of the parser replaces any `data` value longer than
INLINE_LIMIT by its decoded size, so even a video of hundreds of megabytes is never held in
memory. Small text parts (text/plain, vCards) are kept.

Keys hash what identifies a message or call (time, address, direction, content), never the
contact name nor the backup, so a later backup that overlaps an earlier one adds only what
is new.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from defusedxml import DefusedXmlException, ElementTree

from connectors.sdk import Delete, Field, Fragment, Importer, ImportFailed, InvalidRecord, Record, datasets

from .phone import check_region, is_withheld, normalize_number

INLINE_LIMIT = 64 * 1024  # attachment data up to this size is parsed, larger is skipped unread
MAX_TEXT = 64 * 1024  # text parts longer than this keep only their size
CHUNK = 64 * 1024
NULL = "null"
OWN_TOKEN = "insert-address-token"  # Android's placeholder for the phone's own number

CALL_TYPES: dict[str, tuple[str, str | None]] = {
    "1": ("in", None),
    "2": ("out", None),
    "3": ("missed", None),
    "4": ("missed", "voicemail"),
    "5": ("rejected", None),
    "6": ("rejected", "blocked"),
    "7": ("in", "answered_elsewhere"),
}
SMS_TYPES: dict[str, tuple[str, str | None] | None] = {
    "1": ("in", None),
    "2": ("out", None),
    "3": None,  # a draft was never sent: not a message
    "4": ("out", "outbox"),
    "5": ("out", "failed"),
    "6": ("out", "queued"),
}
MMS_BOXES: dict[str, tuple[str, str | None] | None] = {
    "1": ("in", None),
    "2": ("out", None),
    "3": None,
    "4": ("out", "outbox"),
}
ADDRESS_ROLES = {"137": "from", "151": "to", "130": "cc", "129": "bcc"}

_ROOT = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*|<!--.*?-->\s*|<\?xml-stylesheet[^>]*\?>\s*)*<(smses|calls)\b([^>]*)>",
    re.DOTALL,
)


class SmsBackup(Importer):
    name = "sms-backup"
    title = "SMS Backup & Restore (Android)"
    category = "telecom"
    datasets = ("telecom.call", "telecom.message")
    extensions = (".xml",)
    description = "Calls, SMS and MMS from the Android app SMS Backup & Restore (calls-*.xml, sms-*.xml)."
    fields = (
        Field(
            "region",
            "Country of numbers saved without a country code, e.g. FR (left as they are when not set)",
            required=False,
            check=check_region,
        ),
    )

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        match = _ROOT.match(head)
        if match is None:
            return False
        root, attrs = match.group(1), match.group(2)
        child = b"<call " if root == b"calls" else b"<sms "
        return b"count=" in attrs or child in head or b"<mms " in head or b"SMS Backup & Restore" in head

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment | Delete]:
        region = settings.get("region") or None
        with path.open("rb") as raw:
            stream = _AttachmentFilter(raw)
            try:
                yield from _fragments(path, stream, region)
            except ElementTree.ParseError as err:
                line, column = getattr(err, "position", (0, 0))
                raise ImportFailed(
                    f"{path.name}: not well-formed XML at line {line}, column {column} ({err})"
                ) from None
            except DefusedXmlException as err:
                raise ImportFailed(f"{path.name}: refused unsafe XML ({type(err).__name__})") from None
            except _BadAttachment as err:
                raise ImportFailed(f"{path.name}: {err} (after byte {stream.consumed})") from None
            except LookupError as err:
                if type(err) is not LookupError:  # a KeyError here is selfdata's own fault
                    raise
                name = str(err).rpartition(": ")[2]  # expat: an encoding Python does not know
                raise ImportFailed(
                    f"{path.name}: the XML declaration names the encoding {name!r}, which is not a known one"
                ) from None

    def normalize(self, fragment: Fragment) -> Record | None:
        raw = fragment.raw
        if raw["element"] == "call":
            return call_record(raw)
        if raw["element"] == "sms":
            return sms_record(raw)
        return mms_record(raw)


Element = tuple[str, dict[str, str], list[dict[str, str]], list[dict[str, str]]]


class _Collector:
    """The parser's target: keeps only the top-level elements (with an MMS's parts and
    addresses) as plain dicts, handed over after each chunk, so nothing accumulates."""

    def __init__(self) -> None:
        self.depth = 0
        self.root = ""
        self.current: Element | None = None
        self.done: list[Element] = []

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.depth += 1
        if self.depth == 1:
            self.root = tag
        elif self.depth == 2:
            self.current = (tag, attrib, [], [])
        elif self.current is not None and tag == "part":
            self.current[2].append(attrib)
        elif self.current is not None and tag == "addr":
            self.current[3].append(attrib)

    def end(self, tag: str) -> None:
        if self.depth == 2 and self.current is not None:
            self.done.append(self.current)
            self.current = None
        self.depth -= 1

    def data(self, text: str) -> None:
        return None

    def close(self) -> None:
        return None


def _fragments(path: Path, stream: _AttachmentFilter, region: str | None) -> Iterator[Fragment]:
    collector = _Collector()
    parser = ElementTree.DefusedXMLParser(target=collector, forbid_dtd=True)
    counts: dict[str, int] = {}
    while True:
        chunk = stream.read(CHUNK)
        if chunk:
            parser.feed(chunk)
        else:
            parser.close()
        if collector.root and collector.root not in ("smses", "calls"):
            raise ImportFailed(f"{path.name}: starts with <{collector.root}>, not <smses> or <calls>")
        for tag, attrs, parts, addrs in collector.done:
            counts[tag] = counts.get(tag, 0) + 1
            fragment = _fragment(tag, attrs, parts, addrs, f"{path.name}: <{tag}> number {counts[tag]}", region)
            if fragment is not None:
                yield fragment
        collector.done.clear()
        if not chunk:
            return


def _fragment(
    tag: str,
    attrs: dict[str, str],
    parts: list[dict[str, str]],
    addrs: list[dict[str, str]],
    where: str,
    region: str | None,
) -> Fragment | None:
    if tag not in ("call", "sms", "mms"):
        return None  # unknown elements of newer app versions
    date = attrs.get("date", "")
    if not date.lstrip("-").isdigit():
        raise ImportFailed(f"{where}: date {date!r} is not a time in milliseconds")
    kind = attrs.get("type" if tag != "mms" else "msg_box", "")
    tables: dict[str, dict[str, Any]] = {"call": CALL_TYPES, "sms": SMS_TYPES, "mms": MMS_BOXES}
    table = tables[tag]
    if kind not in table:
        raise ImportFailed(f"{where}: unknown {'msg_box' if tag == 'mms' else 'type'} {kind!r}")
    if table[kind] is None:
        return None  # drafts
    if tag == "call":
        duration = attrs.get("duration", "0") or "0"
        if not duration.isdigit():
            raise ImportFailed(f"{where}: duration {duration!r} is not a number of seconds")
        return Fragment("telecom.call", {"element": "call", "attrs": attrs, "region": region})
    if tag == "sms":
        return Fragment("telecom.message", {"element": "sms", "attrs": attrs, "region": region})
    raw = {"element": "mms", "attrs": attrs, "parts": [_part(p, where) for p in parts], "addrs": addrs}
    return Fragment("telecom.message", {**raw, "region": region})


def _part(attrs: dict[str, str], where: str) -> dict[str, Any]:
    """A part's attributes without its attachment data (its size instead) and without long text."""
    data = attrs.pop("data", None)
    if data is not None and data != NULL:
        if data.startswith("#omitted:"):
            attrs["data_size"] = data[len("#omitted:") :]
        else:
            attrs["data_size"] = str(_decoded_size(data.encode("ascii", "replace")))
    text = attrs.get("text")
    if text is not None and text != NULL and (len(text) > MAX_TEXT or not _is_text(attrs.get("ct", ""))):
        attrs["text_size"] = str(len(text.encode("utf-8")))
        del attrs["text"]
    return attrs


def _is_text(content_type: str) -> bool:
    return content_type.lower().startswith("text/")


def _decoded_size(b64: bytes) -> int:
    chars = len(_NOT_B64.sub(b"", b64))
    pad = b64.count(b"=")
    return max(0, (chars + pad) * 3 // 4 - pad)


def _null(value: str | None) -> str | None:
    return None if value is None or value == NULL or value == "" else value


def _name(attrs: dict[str, str]) -> str | None:
    name = _null(attrs.get("contact_name"))
    return None if name is None or name.strip().lower() in ("(unknown)", "unknown") else name


def _at(date: str) -> datetime:
    value = int(date)
    # MMS dates are seconds in Android's database; the app usually converts them to ms.
    return datetime.fromtimestamp(value / 1000 if abs(value) >= 10**11 else value, tz=UTC)


def _key(prefix: str, *parts: str) -> str:
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=10).hexdigest()
    return f"{prefix}-{parts[0]}-{digest}"


def call_record(raw: dict[str, Any]) -> Record:
    attrs: dict[str, str] = raw["attrs"]
    direction, outcome = CALL_TYPES[attrs["type"]]
    number = attrs.get("number", "")
    withheld = attrs.get("presentation", "1") in ("2", "3", "4") or is_withheld(number)
    at = _at(attrs["date"])
    data = datasets.TelecomCall.make(
        direction=direction,
        number=None if withheld else normalize_number(number, raw.get("region")),
        name=_name(attrs),
        started_at=at,
        duration_s=int(attrs.get("duration") or 0),
    )
    if outcome:
        data["outcome"] = outcome
    return Record("telecom.call", _key("call", attrs["date"], number, direction), at, data)


def sms_record(raw: dict[str, Any]) -> Record:
    attrs: dict[str, str] = raw["attrs"]
    entry = SMS_TYPES[attrs["type"]]
    if entry is None:
        raise InvalidRecord("drafts are not messages")
    direction, status = entry
    address = attrs.get("address", "")
    number = normalize_number(address, raw.get("region"))
    at = _at(attrs["date"])
    body = attrs.get("body")
    data = datasets.TelecomMessage.make(
        direction=direction, number=number, name=_name(attrs), at=at, kind="sms", body=body, thread=number
    )
    if status:
        data["status"] = status
    return Record("telecom.message", _key("sms", attrs["date"], address, direction, body or ""), at, data)


def mms_record(raw: dict[str, Any]) -> Record:
    attrs: dict[str, str] = raw["attrs"]
    entry = MMS_BOXES[attrs["msg_box"]]
    if entry is None:
        raise InvalidRecord("drafts are not messages")
    direction, status = entry
    region = raw.get("region")
    roles: dict[str, list[str]] = {}
    for addr in raw.get("addrs", []):
        address = addr.get("address", "")
        if address and address != OWN_TOKEN and address != NULL:
            roles.setdefault(ADDRESS_ROLES.get(addr.get("type", ""), "other"), []).append(address)
    senders = roles.get("from", [])
    others = roles.get("to", []) + roles.get("cc", []) + roles.get("bcc", [])
    if direction == "in":
        main = senders[0] if senders else (attrs.get("address", "").split("~")[0])
    else:
        main = others[0] if others else (attrs.get("address", "").split("~")[0])
    numbers = [n for n in (normalize_number(a, region) for a in senders + others) if n]
    participants = sorted(set(numbers))
    texts, parts = [], []
    for part in raw.get("parts", []):
        content_type = part.get("ct") or "application/octet-stream"
        if content_type.lower() == "application/smil":
            continue  # the slide layout, not content
        text = _null(part.get("text"))
        size = int(part.get("data_size") or part.get("text_size") or len((text or "").encode("utf-8")))
        item: dict[str, Any] = {"name": _null(part.get("name")) or _null(part.get("cl")), "content_type": content_type}
        item["size"] = size
        if text is not None and content_type.lower() == "text/plain":
            texts.append(text)
        elif text is not None:
            item["text"] = text  # a small vCard or calendar entry
        parts.append(item)
    at = _at(attrs["date"])
    number = normalize_number(main, region)
    data = datasets.TelecomMessage.make(
        direction=direction,
        number=number,
        name=_name(attrs),
        at=at,
        kind="mms",
        body="\n".join(texts) if texts else None,
        parts=parts,
        thread=",".join(participants) or number,
    )
    if len(participants) > 1:
        data["participants"] = participants
    if status:
        data["status"] = status
    ident = _null(attrs.get("m_id")) or ""
    return Record(
        "telecom.message", _key("mms", attrs["date"], attrs.get("address", ""), direction, ident, *texts), at, data
    )


_NOT_B64 = re.compile(rb"[^A-Za-z0-9+/]")
_ENTITY = re.compile(rb"&#(?:[0-9]+|x[0-9A-Fa-f]+);")
_BAD_IN_B64 = re.compile(rb"[^A-Za-z0-9+/=\s&#x;]")
_SURROGATES = re.compile(rb"&#(5[5-6][0-9]{3});&#(5[6-7][0-9]{3});")
_MARK = b' data="'


class _BadAttachment(Exception):
    pass


class _AttachmentFilter:
    """A read()-able view of the backup for the XML parser, with two repairs on the way:

    - a `data` attribute longer than INLINE_LIMIT is consumed without being kept and
      replaced by `#omitted:<decoded size>`; it must look like base64, or the file is refused;
    - emoji written by older app versions as UTF-16 surrogate pairs (`&#55357;&#56832;`),
      which XML forbids, become the characters they stand for.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._pending = b""
        self._out = bytearray()
        self._hold = b""
        self._eof = False
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        want = CHUNK if size is None or size < 0 else max(size, 1)
        while len(self._out) < want and not (self._eof and not self._pending):
            self._step()
        if self._eof and not self._pending and self._hold:
            self._out += _join_surrogates(self._hold)
            self._hold = b""
        chunk = bytes(self._out[:want])
        del self._out[:want]
        return chunk

    def _fill(self, need: int) -> None:
        while len(self._pending) < need and not self._eof:
            data = self._raw.read(CHUNK)
            self.consumed += len(data)
            if data:
                self._pending += data
            else:
                self._eof = True

    def _emit(self, data: bytes) -> None:
        data = self._hold + data
        tail = data.find(b"&", max(0, len(data) - 17))  # a surrogate pair may straddle chunks
        cut = tail if tail >= 0 else len(data)
        self._out += _join_surrogates(data[:cut])
        self._hold = data[cut:]

    def _step(self) -> None:
        self._fill(CHUNK)
        i = self._pending.find(_MARK)
        if i < 0:
            keep = 0 if self._eof else len(_MARK) - 1
            self._emit(self._pending[: len(self._pending) - keep])
            self._pending = self._pending[len(self._pending) - keep :]
            return
        start = i + len(_MARK)
        self._fill(start + INLINE_LIMIT + 1)
        end = self._pending.find(b'"', start, start + INLINE_LIMIT + 1)
        if end >= 0 or self._eof:  # a small value (or a cut file the parser will report)
            stop = end + 1 if end >= 0 else len(self._pending)
            self._emit(self._pending[:stop])
            self._pending = self._pending[stop:]
            return
        self._emit(self._pending[:start])
        rest, self._pending = self._pending[start:], b""
        self._emit(f'#omitted:{self._skip(rest)}"'.encode())

    def _skip(self, rest: bytes) -> int:
        """Consume a long attribute value up to its closing quote; its decoded size."""
        chars = pad = 0
        carry = b""
        while True:
            end = rest.find(b'"')
            segment = carry + (rest if end < 0 else rest[:end])
            amp = segment.rfind(b"&")
            carry, segment = (
                (segment[amp:], segment[:amp]) if amp >= 0 and b";" not in segment[amp:] else (b"", segment)
            )
            if _BAD_IN_B64.search(segment):
                raise _BadAttachment("an MMS part's data is not base64")
            segment = _ENTITY.sub(b"", segment)
            pad += segment.count(b"=")
            chars += len(_NOT_B64.sub(b"", segment))
            if end >= 0:
                self._pending = rest[end + 1 :]
                return max(0, (chars + pad) * 3 // 4 - pad)
            rest = self._raw.read(CHUNK)
            self.consumed += len(rest)
            if not rest:
                self._eof = True
                raise _BadAttachment("the file ends inside an MMS attachment: it was cut off")


def _join_surrogates(data: bytes) -> bytes:
    if b"&#5" not in data:
        return data

    def join(m: re.Match[bytes]) -> bytes:
        high, low = int(m.group(1)), int(m.group(2))
        if 0xD800 <= high <= 0xDBFF and 0xDC00 <= low <= 0xDFFF:
            return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)).encode("utf-8")
        return m.group(0)

    return _SURROGATES.sub(join, data)

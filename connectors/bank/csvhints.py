"""What to tell a user whose CSV is not read as it is: the `date_format` a date looks
written in, and for a CSV no profile recognises, the `--format bank-csv` settings to give
with the header that was read."""

from __future__ import annotations

import csv
import re
from datetime import date

from .amounts import decode_text, parse_date

# (pattern, strptime format) of the date forms banks write, tried in order.
_FORMS = (
    (r"\d{4}-\d{2}-\d{2}", "iso"),
    (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}", "%Y-%m-%d %H:%M:%S"),
    (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}", "%Y-%m-%d %H:%M"),
    (r"\d{8}", "%Y%m%d"),
    (r"\d{4}/\d{2}/\d{2}", "%Y/%m/%d"),
    (r"\d{1,2}\.\d{1,2}\.\d{4}", "%d.%m.%Y"),
    (r"\d{1,2}\.\d{1,2}\.\d{2}", "%d.%m.%y"),
    (r"\d{1,2}-\d{1,2}-\d{4}", "%d-%m-%Y"),
    (r"\d{1,2} [A-Za-z]{3} \d{4}", "%d %b %Y"),
    (r"\d{1,2}-[A-Za-z]{3}-\d{4}", "%d-%b-%Y"),
    (r"\d{1,2} [A-Za-z]{3} \d{2}", "%d %b %y"),
)
_SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})")
_VALUE = re.compile(r"[-+(]?[\d.,/: ]*\d[\d.,/: ]*\)?")  # a number or a date: a row, not a header


def date_formats_of(text: str) -> list[str]:
    """The date_format values `text` reads with, most likely first (a slashed date whose
    day and month are both 12 or less reads both ways: day first, then month first)."""
    s = text.strip()
    m = _SLASHED.fullmatch(s)
    if m:
        first, second = int(m.group(1)), int(m.group(2))
        year = "%Y" if len(m.group(3)) == 4 else "%y"
        day_first, month_first = f"%d/%m/{year}", f"%m/%d/{year}"
        if first > 12:
            return [day_first]
        if second > 12:
            return [month_first]
        return [day_first, month_first]
    out = []
    for pattern, fmt in _FORMS:
        if re.fullmatch(pattern, s):
            try:
                parse_date(s.replace("T", " "), fmt)
            except ValueError:
                continue
            out.append(fmt)
    return out


def parse_csv_date(text: str, fmt: str, role: str = "date") -> date:
    """A CSV date in `fmt` (alternatives separated by |); the error names the
    `date_format` to set when the date is written another way."""
    formats = fmt.split("|")
    for one in formats:
        try:
            return parse_date(text, one)
        except ValueError as err:
            problem = err
    looks = [f for f in date_formats_of(text) if f not in formats]
    if not looks:
        raise problem
    options = " or ".join(f"date_format={f}" for f in looks)
    raise ValueError(
        f"{role}: {problem}; it looks written as {' or '.join(looks)}: import with --set {options} "
        "(or set the source's date_format)"
    ) from None


def _header(lines: list[str]) -> tuple[int, str, list[str]] | None:
    """(line index, delimiter, cells) of the first line that looks like a CSV header:
    three or more non-empty cells, none of them a number or a date."""
    for i, line in enumerate(lines[:30]):
        best: tuple[str, list[str]] | None = None
        for delimiter in (",", ";", "\t", "|"):
            try:
                cells = [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]
            except (csv.Error, StopIteration):
                continue
            if len([c for c in cells if c]) >= 3 and (best is None or len(cells) > len(best[1])):
                best = (delimiter, cells)
        if best is not None and not any(_VALUE.fullmatch(c) for c in best[1] if c):
            return i, best[0], best[1]
    return None


_GUESS = {
    "date": ("date", "datum", "buchung", "posted", "posting", "booking", "opération", "operation"),
    "amount": ("amount", "betrag", "bedrag", "montant", "importe", "value", "sum"),
    "description": (
        "description",
        "verwendungszweck",
        "libellé",
        "libelle",
        "memo",
        "details",
        "reference",
        "narrative",
        "text",
        "omschrijving",
        "payee",
    ),
}
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def header_hint(head: bytes) -> str | None:
    """For a file that looks like a CSV no profile recognises: the settings to import it
    with (`--format bank-csv --set profile=custom --set columns=...`) and the header read."""
    if b"\x00" in head[:4096]:
        return None
    lines = decode_text(head, "utf-8").lstrip("\ufeff").splitlines()
    found = _header(lines)
    if found is None:
        return None
    index, delimiter, cells = found
    roles: dict[str, str] = {}
    for role, words in _GUESS.items():
        for cell in cells:
            if cell and cell not in roles.values() and any(w in cell.casefold() for w in words):
                roles[role] = cell
                break
    columns = ";".join(
        f"{r}={roles.get(r, '<' + r.capitalize() + ' column>')}" for r in ("date", "amount", "description")
    )
    sets = ["--set profile=custom", f"--set 'columns={columns}'"]
    if delimiter != ",":
        sets.append(f"--set delimiter={DELIMITER_NAMES[delimiter]}")
    rows = lines[index + 1 : index + 6]
    sample = _sample(rows, delimiter, cells, roles.get("date"))
    if sample:
        formats = date_formats_of(sample)
        if formats and formats[0] != "iso":
            sets.append(f"--set 'date_format={formats[0]}'")
    amount = _sample(rows, delimiter, cells, roles.get("amount"))
    if amount and re.fullmatch(r"[-+]?[\d.]*\d,\d{1,2}", amount.strip()):
        sets.append("--set decimal_separator=comma" + (" --set thousands_separator=period" if "." in amount else ""))
    shown = (delimiter.join(cells))[:200]
    return (
        f"it looks like a bank CSV with the header (line {index + 1}) {shown!r}, a layout no built-in profile "
        f"has. Import it with --format bank-csv {' '.join(sets)}"
        " --set currency=XXX (the file's currency; sign=debit-credit with debit= and credit= columns for a file"
        " with two amount columns; see docs/sources/bank-files.md)"
    )


def _sample(rows: list[str], delimiter: str, header: list[str], column: str | None) -> str | None:
    if column is None:
        return None
    at = header.index(column)
    for row in rows:
        try:
            cells = next(csv.reader([row], delimiter=delimiter))
        except (csv.Error, StopIteration):
            continue
        if len(cells) > at and cells[at].strip():
            return cells[at].strip()
    return None

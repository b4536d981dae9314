"""The field bound every importer reads through: a line or a value over the limit is refused
with the line it began on, whatever the reader's way of reading (chunks, lines, text)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.sdk.limits import FieldTooLarge, bounded

from .conftest import Cli


def read_all(data: bytes, shape: str, limit: int, how: str) -> bytes:
    f = bounded(io.BytesIO(data), "f.txt", shape, limit)  # type: ignore[arg-type]
    if how == "lines":
        return b"".join(f)
    if how == "text":
        return io.TextIOWrapper(f, encoding="latin-1", newline="").read().encode("latin-1")
    out = b""
    while chunk := f.read(7):
        out += chunk
    return out


def longest(data: bytes, seps: bytes) -> int:
    best = run = 0
    for byte in data:
        run = 0 if byte in seps else run + 1
        best = max(best, run)
    return best


@given(
    st.binary(max_size=400),
    st.integers(1, 40),
    st.sampled_from(["lines", "markup"]),
    st.sampled_from(["chunks", "lines", "text"]),
)
def test_a_file_passes_whole_exactly_when_no_run_is_over_the_limit(
    data: bytes, limit: int, shape: str, how: str
) -> None:
    seps = b"\n\r" if shape == "lines" else b"<>"
    if longest(data, seps) > limit:
        with pytest.raises(FieldTooLarge):
            read_all(data, shape, limit, how)
    else:
        assert read_all(data, shape, limit, how) == data


def test_the_error_names_the_line_the_field_began_on() -> None:
    data = b"a\nb\nc" + b"x" * 100 + b"\nd\n"
    with pytest.raises(FieldTooLarge, match=r"f.txt, line 3: a line of over 50 bytes"):
        read_all(data, "lines", 50, "chunks")
    xml = b"<a>\n<b v='" + b"y" * 100 + b"'/>\n</a>"
    with pytest.raises(FieldTooLarge, match=r"f.txt, line 2: a value or tag of over 50 bytes"):
        read_all(xml, "markup", 50, "lines")


# --- Each importer reads through it: a huge field is refused with its line, nothing stored ---------------

BIG = 2 << 20  # twice the limit


def refused(run: Cli, path: Path, *expected: str) -> None:
    r = run("import", str(path), ok=False)
    assert r.exit_code == 1 and "Nothing from this file was stored" in r.output, r.output
    for text in expected:
        assert text in r.output, r.output


def test_fhir_ndjson_line_over_the_limit(initialised: Path, run: Cli, tmp_path: Path) -> None:
    p = tmp_path / "export.ndjson"
    good = b'{"resourceType": "Patient", "id": "p1"}\n'
    p.write_bytes(good * 2 + b'{"resourceType": "Observation", "note": "' + b"x" * BIG + b'"}\n' + good)
    refused(run, p, "export.ndjson, line 3: a line of over 1,048,576 bytes")


def test_a_fhir_bundle_too_large_to_read_at_once(initialised: Path, run: Cli, tmp_path: Path) -> None:
    p = tmp_path / "bundle.json"
    with p.open("wb") as f:
        f.write(b'{\n "resourceType": "Bundle",\n "entry": [\n')
        f.truncate(33 << 20)
    refused(run, p, "bundle.json: a 34,603,008-byte document is over", "NDJSON")


def test_apple_health_attribute_over_the_limit(initialised: Path, run: Cli, tmp_path: Path) -> None:
    p = tmp_path / "export.xml"
    p.write_bytes(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE HealthData [\n<!ELEMENT HealthData (Record)*>\n]>\n'
        b'<HealthData locale="en_US">\n<Record type="HKQuantityTypeIdentifierStepCount" sourceName="x'
        + b"y" * BIG
        + b'" unit="count" value="1"/>\n</HealthData>\n'
    )
    refused(run, p, "export.xml, line 6: a value or tag of over 1,048,576 bytes")


def test_green_button_value_over_the_limit(initialised: Path, run: Cli, tmp_path: Path) -> None:
    p = tmp_path / "usage.xml"
    p.write_bytes(
        b'<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">\n'
        b"<entry><content><espi:UsagePoint><espi:ServiceCategory><espi:kind>"
        + b"0" * BIG
        + b"</espi:kind></espi:ServiceCategory></espi:UsagePoint></content></entry>\n</feed>\n"
    )
    refused(run, p, "usage.xml, line 3: a value or tag of over 1,048,576 bytes")


def test_import_jsonl_line_over_the_limit_and_nesting_too_deep(initialised: Path, run: Cli, tmp_path: Path) -> None:
    p = tmp_path / "records.jsonl"
    p.write_bytes(
        b'{"source": "s", "dataset": "d.x", "key": "k", "ts": "2026-01-01T00:00:00Z", "data": {"a": "'
        + b"x" * (17 << 20)
        + b'"}}\n'
    )
    r = run("import-jsonl", str(p), ok=False)
    assert r.exit_code != 0 and "records.jsonl, line 1: a line of over 16,777,216 bytes" in r.output, r.output
    p.write_bytes(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    r = run("import-jsonl", str(p), ok=False)
    assert r.exit_code != 0 and "line 1: JSON nested too deep" in r.output, r.output


def test_a_reader_that_looks_ahead_and_goes_back_reads_the_same_bytes_under_the_same_bound() -> None:
    data = b"h1,h2\n" + b"a,b\n" * 1000
    f = bounded(io.BytesIO(data), "f.csv", "lines", 50)
    assert f.read(100) == data[:100] and f.seek(0) == 0 and f.read() == data
    f = bounded(io.BytesIO(b"h\n" + b"x" * 100), "f.csv", "lines", 50)
    with pytest.raises(FieldTooLarge, match="f.csv, line 2"):  # buffered: seen at the first read already
        f.read(3)
        f.seek(0)
        f.read()

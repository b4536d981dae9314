"""The SMS Backup & Restore importer against files written by the project's generator."""

from __future__ import annotations

import base64
import io
import re
import tracemalloc
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.sdk import ImportFailed, Record
from connectors.telecom import smsbackup
from connectors.telecom.smsbackup import SmsBackup
from connectors.testing.contract import ImporterContract
from connectors.testing.generators.smsbackup import escape, write_calls, write_sms
from connectors.testing.harness import import_file, read_file
from connectors.testing.memory import MemoryStore

HEAD = "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"


class TestSmsBackupContract(ImporterContract):
    importer = SmsBackup
    import_settings: ClassVar[dict[str, Any]] = {"region": "FR"}

    def samples(self, folder: Path) -> list[Path]:
        return [
            write_sms(folder / "sms-20260601120000.xml", count=120),
            write_calls(folder / "calls-20260601120000.xml", count=48),
        ]


def records(path: Path, region: str | None = "FR") -> list[Record]:
    return [r for r in read_file(SmsBackup(), path, {"region": region} if region else {}) if isinstance(r, Record)]


def sms_file(tmp_path: Path, *elements: str, root: str = "smses") -> Path:
    path = tmp_path / f"{root}-test.xml"
    path.write_text(HEAD + f'<{root} count="{len(elements)}">\n' + "\n".join(elements) + f"\n</{root}>\n")
    return path


def sms(**attrs: str) -> str:
    base = {"protocol": "0", "address": "0612345678", "date": "1748776694844", "type": "1", "body": "hi"}
    return "<sms " + " ".join(f'{k}="{escape(v)}"' for k, v in {**base, **attrs}.items()) + " />"


def call(**attrs: str) -> str:
    base = {"number": "0612345678", "duration": "10", "date": "1748776694844", "type": "1", "presentation": "1"}
    return "<call " + " ".join(f'{k}="{escape(v)}"' for k, v in {**base, **attrs}.items()) + " />"


# Calls


@pytest.mark.parametrize(
    ("code", "direction", "outcome"),
    [
        ("1", "in", None),
        ("2", "out", None),
        ("3", "missed", None),
        ("4", "missed", "voicemail"),
        ("5", "rejected", None),
        ("6", "rejected", "blocked"),
        ("7", "in", "answered_elsewhere"),
    ],
)
def test_every_call_type(tmp_path: Path, code: str, direction: str, outcome: str | None) -> None:
    [r] = records(sms_file(tmp_path, call(type=code, number="06 12 34 56 78", contact_name="Marie"), root="calls"))
    assert r.data["direction"] == direction and r.data.get("outcome") == outcome
    assert r.data["number"] == "+33612345678" and r.data["name"] == "Marie"
    assert r.data["started_at"] == "2025-06-01T11:18:14.844000+00:00" and r.data["duration_s"] == 10


@pytest.mark.parametrize(
    ("number", "presentation"), [("", "2"), ("-2", "2"), ("-1", "3"), ("PRIVATE", "1"), ("0612345678", "2")]
)
def test_withheld_calls_have_no_number(tmp_path: Path, number: str, presentation: str) -> None:
    element = call(number=number, presentation=presentation, contact_name="(Unknown)")
    [r] = records(sms_file(tmp_path, element, root="calls"))
    assert r.data["number"] is None and r.data["name"] is None
    assert r.raw["attrs"]["number"] == number  # the original is kept


def test_generated_calls_cover_every_type(tmp_path: Path) -> None:
    out = records(write_calls(tmp_path / "calls-1.xml", count=48))
    assert {(r.data["direction"], r.data.get("outcome")) for r in out} == {
        ("in", None), ("out", None), ("missed", None), ("missed", "voicemail"), ("rejected", None),
        ("rejected", "blocked"), ("in", "answered_elsewhere"),
    }  # fmt: skip
    assert any(r.data["number"] is None for r in out)


# SMS


def test_sms_types_numbers_and_text(tmp_path: Path) -> None:
    path = sms_file(
        tmp_path,
        sms(address="06.12.34.56.78", body='Il a dit "oui" & <3\nfin'),
        sms(type="2", address="+1 (202) 555-0143", date="1748776694845"),
        sms(type="3", date="1748776694846"),  # draft: not a message
        sms(type="5", date="1748776694847"),
        sms(address="AMAZON", date="1748776694848", contact_name="null"),
        sms(address="36179", date="1748776694849", body="Bonne ann&#233;e &#55356;&#57225;".replace("&", "\x00")),
    )
    path.write_text(path.read_text().replace("\x00", "&"))  # the app's references, as written
    out = records(path)
    assert [r.data["direction"] for r in out] == ["in", "out", "out", "in", "in"]
    assert out[0].data["body"] == 'Il a dit "oui" & <3\nfin' and out[0].data["number"] == "+33612345678"
    assert out[0].data["thread"] == "+33612345678" and out[0].data["kind"] == "sms"
    assert out[1].data["number"] == "+12025550143"
    assert out[2].data["status"] == "failed"
    assert out[3].data["number"] == "AMAZON" and out[3].data["name"] is None
    assert out[4].data["number"] == "36179" and out[4].data["body"] == "Bonne année 🎉"


def test_without_a_region_national_numbers_stay_as_dialled(tmp_path: Path) -> None:
    [r] = records(sms_file(tmp_path, sms(address="06 12 34 56 78")), region=None)
    assert r.data["number"] == "0612345678"


@pytest.mark.parametrize(
    ("element", "message"),
    [
        (sms(date="yesterday"), r"<sms> number 2: date 'yesterday'"),
        (sms(type="9"), r"<sms> number 2: unknown type '9'"),
        ('<mms date="1" msg_box="7"><parts/></mms>', r"<mms> number 1: unknown msg_box '7'"),
    ],
)
def test_bad_values_are_clear_errors(tmp_path: Path, element: str, message: str) -> None:
    path = sms_file(tmp_path, sms(), element)
    store = MemoryStore()
    with pytest.raises(ImportFailed, match=re.escape(path.name) + ".*" + message):
        import_file(SmsBackup(), path, store)
    assert store.records == {}


def test_an_unknown_declared_encoding_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "sms.xml"
    path.write_text('<?xml version="1.0" encoding="U-F-8"?>\n<smses count="0"></smses>\n')
    with pytest.raises(ImportFailed, match="sms.xml: the XML declaration names the encoding 'U-F-8', which is not"):
        records(path)


def test_xml_bombs_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "sms-bomb.xml"
    path.write_text(
        HEAD + '<!DOCTYPE smses [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>\n'
        '<smses count="1"><sms address="1" date="1" type="1" body="&b;" /></smses>'
    )
    with pytest.raises(ImportFailed, match="sms-bomb.xml: refused unsafe XML"):
        records(path)


# MMS


def test_mms_parts_addresses_and_attachments(tmp_path: Path) -> None:
    image = bytes(range(256)) * 7
    data = base64.b64encode(image).decode()
    smil = escape("<smil><body><par><img src='a.jpg'/></par></body></smil>")
    card = escape("BEGIN:VCARD\nFN:Marie\nEND:VCARD\n")
    element = (
        '<mms date="1748776694844" msg_box="1" address="+33612345678~+33623456789" m_id="abc" '
        'contact_name="Marie, Papa" sub="null">\n<parts>\n'
        f'<part seq="-1" ct="application/smil" name="null" cl="smil.xml" text="{smil}" />\n'
        f'<part seq="0" ct="image/jpeg" name="null" cl="a.jpg" text="null" data="{data}" />\n'
        '<part seq="0" ct="text/plain" name="null" cl="text_0.txt" text="Regarde !" />\n'
        f'<part seq="0" ct="text/x-vCard" name="Marie.vcf" cl="Marie.vcf" text="{card}" />\n'
        "</parts>\n<addrs>\n"
        '<addr address="+33612345678" type="137" charset="106" />\n'
        '<addr address="+33600000001" type="151" charset="106" />\n'
        '<addr address="06 23 45 67 89" type="151" charset="106" />\n'
        "</addrs>\n</mms>"
    )
    [r] = records(sms_file(tmp_path, element))
    assert r.data["kind"] == "mms" and r.data["direction"] == "in"
    assert r.data["number"] == "+33612345678" and r.data["body"] == "Regarde !"
    assert r.data["parts"] == [
        {"name": "a.jpg", "content_type": "image/jpeg", "size": len(image)},
        {"name": "text_0.txt", "content_type": "text/plain", "size": 9},
        {"name": "Marie.vcf", "content_type": "text/x-vCard", "size": 31, "text": "BEGIN:VCARD\nFN:Marie\nEND:VCARD\n"},
    ]
    assert r.data["participants"] == ["+33600000001", "+33612345678", "+33623456789"]
    assert "data" not in str(r.raw["parts"]).replace("data_size", "")  # no attachment bytes kept


def test_mms_sent_to_a_group(tmp_path: Path) -> None:
    element = (
        '<mms date="1748776694844" msg_box="2" address="0612345678~0623456789" m_id="null"><parts>'
        '<part seq="0" ct="text/plain" name="null" text="On y va ?" /></parts><addrs>'
        '<addr address="insert-address-token" type="137" /><addr address="0612345678" type="151" />'
        '<addr address="0623456789" type="151" /></addrs></mms>'
    )
    [r] = records(sms_file(tmp_path, element))
    assert (r.data["direction"], r.data["number"]) == ("out", "+33612345678")
    assert r.data["thread"] == "+33612345678,+33623456789"


def test_mms_with_a_huge_part_is_read_in_bounded_memory(tmp_path: Path) -> None:
    size = 24 * 1024 * 1024
    path = write_sms(tmp_path / "sms-huge.xml", count=40, huge_part_bytes=size)
    assert path.stat().st_size > size  # the base64 of the video is in the file
    tracemalloc.start()
    try:
        out = records(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes: the attachment was held in memory"
    [huge] = [r for r in out if r.data["kind"] == "mms" and r.data["body"] == "La vidéo !"]
    assert {"name": "VID_0001.mp4", "content_type": "video/mp4", "size": size} in huge.data["parts"]
    assert len(out) == len(records(write_sms(tmp_path / "sms-plain.xml", count=40)))


def test_huge_part_that_is_not_base64_is_refused(tmp_path: Path) -> None:
    junk = "Zm9v" * 20000 + "<oops/>" + "Zm9v" * 20000
    element = f'<mms date="1" msg_box="1" address="1"><parts><part ct="video/mp4" data="{junk}" /></parts></mms>'
    path = sms_file(tmp_path, element)
    with pytest.raises(ImportFailed, match="smses-test.xml: an MMS part's data is not base64"):
        records(path)


def test_file_cut_inside_a_huge_attachment(tmp_path: Path) -> None:
    path = write_sms(tmp_path / "sms-cut.xml", count=10, huge_part_bytes=300_000)
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"VID_0001.mp4") + 200_000])
    store = MemoryStore()
    with pytest.raises(ImportFailed, match="sms-cut.xml: the file ends inside an MMS attachment"):
        import_file(SmsBackup(), path, store)
    assert store.records == {}


# Re-imports


def test_later_backup_adds_only_what_is_new(tmp_path: Path) -> None:
    store = MemoryStore()
    earlier = write_sms(tmp_path / "sms-1.xml", count=150)
    later = write_sms(tmp_path / "sms-2.xml", count=190)
    first = import_file(SmsBackup(), earlier, store, {"region": "FR"})
    second = import_file(SmsBackup(), later, store, {"region": "FR"})
    assert (second.new, second.changed) == (len(records(later)) - len(records(earlier)), 0)
    assert second.unchanged == first.new


def test_renamed_contact_changes_records_but_adds_none(tmp_path: Path) -> None:
    store = MemoryStore()
    path = write_sms(tmp_path / "sms-1.xml", count=60)
    import_file(SmsBackup(), path, store, {"region": "FR"})
    path.write_text(path.read_text(encoding="utf-8").replace('contact_name="Papa"', 'contact_name="Papa ❤"'))
    again = import_file(SmsBackup(), path, store, {"region": "FR"})
    assert again.new == 0 and again.changed > 0


# Sniffing


def test_sniff_rejects_other_xml_exports(tmp_path: Path) -> None:
    fritz = b'<?xml version="1.0" encoding="utf-8"?>\n<root><timestamp>1</timestamp><Call><Id>1</Id></Call></root>'
    gpx = b'<?xml version="1.0"?><gpx version="1.1"><trk/></gpx>'
    assert not SmsBackup.sniff(fritz, "calls-1.xml")
    assert not SmsBackup.sniff(gpx, "sms-1.xml")
    assert SmsBackup.sniff(b'\xef\xbb\xbf<?xml version="1.0"?>\n<smses count="0" />', "backup.xml")


# Parsing properties

xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"), max_size=60)


@settings(max_examples=60, deadline=None)
@given(body=xml_text, date=st.integers(10**11, 4 * 10**12), surrogates=st.booleans())
def test_bodies_and_dates_read_back_exactly(tmp_path_factory: Any, body: str, date: int, surrogates: bool) -> None:
    folder = tmp_path_factory.mktemp("prop")
    path = folder / "sms-prop.xml"
    attrs = {"address": "0612345678", "date": str(date), "type": "1", "body": body}
    element = "<sms " + " ".join(f'{k}="{escape(v, surrogates)}"' for k, v in attrs.items()) + " />"
    path.write_text(HEAD + f"<smses>{element}</smses>", encoding="utf-8")
    [r] = records(path)
    assert r.data["body"] == body
    assert r.ts.timestamp() * 1000 == pytest.approx(date, abs=1)


class Trickle(io.RawIOBase):
    """A file that answers reads a few bytes at a time, to move every chunk boundary around."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.pos = data, sizes, 0

    def read(self, n: int = -1) -> bytes:
        step = self.sizes[self.pos % len(self.sizes)] if self.sizes else n
        out = self.data[self.pos : self.pos + max(1, min(n if n > 0 else step, step))]
        self.pos += len(out)
        return out


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 9000), min_size=1, max_size=6),
    lengths=st.lists(st.integers(0, 90_000), min_size=1, max_size=4),
)
def test_attachment_filter_is_exact_across_chunk_boundaries(sizes: list[int], lengths: list[int]) -> None:
    parts = "".join(f'<part ct="image/png" data="{"QUJD" * (n // 4)}" text="&#55357;&#56832;" />' for n in lengths)
    doc = f'<smses><mms date="1" msg_box="1" address="1"><parts>{parts}</parts></mms></smses>'.encode()
    stream = smsbackup._AttachmentFilter(Trickle(doc, sizes))  # type: ignore[arg-type]
    out = b"".join(iter(lambda: stream.read(777), b""))
    found = re.findall(rb'data="([^"]*)" text="([^"]*)"', out)
    assert len(found) == len(lengths)
    for (data, text), n in zip(found, lengths, strict=True):
        assert text == "😀".encode()
        expected = (n // 4) * 3
        if data.startswith(b"#omitted:"):
            assert int(data[9:]) == expected and 4 * (n // 4) > smsbackup.INLINE_LIMIT
        else:
            assert 4 * (n // 4) <= smsbackup.INLINE_LIMIT
            assert base64.b64decode(data) == b"ABC" * (n // 4)

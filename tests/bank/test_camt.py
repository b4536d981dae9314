"""The ISO 20022 camt importer against files written by the project's camt generator and
the real samples in shared/samples/bank when they are present."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.bank import camt
from connectors.bank.camt import CamtImporter
from connectors.sdk import Fragment, ImportFailed, Record
from connectors.testing.contract import ImporterContract, head_of
from connectors.testing.generators.camt import Account, write_camt
from connectors.testing.harness import import_file, read_file
from connectors.testing.memory import MemoryStore

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "bank"
NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.04"
IBAN = "DE89370400440532013000"


def records(path: Path, settings: dict[str, Any] | None = None) -> list[Record]:
    return [i for i in read_file(CamtImporter(), path, settings) if isinstance(i, Record)]


def transactions(path: Path) -> dict[str, dict[str, Any]]:
    return {r.key: r.data for r in records(path) if r.dataset == "bank.transaction"}


def entry(
    amount: str = "12.50",
    ind: str = "DBIT",
    ref: str | None = "REF1",
    status: str = "<Sts>BOOK</Sts>",
    booked: str = "2026-05-04",
    details: str = "",
) -> str:
    out = f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{ind}</CdtDbtInd>{status}'
    out += f"<BookgDt><Dt>{booked}</Dt></BookgDt><ValDt><Dt>{booked}</Dt></ValDt>"
    if ref:
        out += f"<AcctSvcrRef>{ref}</AcctSvcrRef>"
    if details:
        out += f"<NtryDtls>{details}</NtryDtls>"
    return out + "</Ntry>"


def tx(amount: str | None, name: str = "Shop", ref: str | None = None, ind: str = "DBIT") -> str:
    refs = f"<Refs><AcctSvcrRef>{ref}</AcctSvcrRef></Refs>" if ref else ""
    money = f'<Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{ind}</CdtDbtInd>' if amount else ""
    return f"<TxDtls>{refs}{money}<RltdPties><Cdtr><Nm>{name}</Nm></Cdtr></RltdPties></TxDtls>"


def document(entries: str, balances: str = "", prolog: str = '<?xml version="1.0" encoding="UTF-8"?>') -> bytes:
    return (
        f'{prolog}<Document xmlns="{NS}"><BkToCstmrStmt><GrpHdr><MsgId>1</MsgId></GrpHdr>'
        f"<Stmt><Id>S1</Id><CreDtTm>2026-05-31T18:00:00</CreDtTm><Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        f"{balances}{entries}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def write(tmp_path: Path, data: bytes, name: str = "statement.xml") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


class TestCamtContract(ImporterContract):
    importer = CamtImporter

    def samples(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        return [
            write_camt(folder / "camt053-v02.xml", version=2, seed=1).path,
            write_camt(folder / "camt053-v08.xml", version=8, seed=2, pending=2).path,
            write_camt(folder / "camt052-v04.xml", message="052", version=4, seed=3).path,
            write_camt(folder / "camt054-v06.xml", message="054", version=6, seed=4).path,
        ]


@pytest.mark.parametrize(
    ("message", "version"), [("053", 2), ("053", 4), ("053", 6), ("053", 8), ("053", 10), ("052", 8)]
)
def test_every_transaction_and_balance_is_read_exactly(tmp_path: Path, message: str, version: int) -> None:
    written = write_camt(tmp_path / "s.xml", message=message, version=version, days=12, per_day=4, pending=2)
    got = records(written.path)
    trns = [r for r in got if r.dataset == "bank.transaction"]
    assert len(trns) == written.count == len({r.key for r in trns})
    by_account: dict[str, list[dict[str, Any]]] = {}
    for r in trns:
        by_account.setdefault(r.data["account_id"], []).append(r.data)
    for iban, expected in written.transactions.items():
        got_rows = sorted(
            (d["amount"], d["booked_on"] or "", d["value_on"], d["status"], d["description"], d["counterparty"])
            for d in by_account[iban]
        )
        want_rows = sorted(
            (t["amount"], t["booked_on"], t["value_on"], t["status"], t["description"], t["counterparty"])
            for t in expected
        )
        assert got_rows == want_rows
    accounts = {r.key: r.data for r in got if r.dataset == "bank.account"}
    assert set(accounts) == set(written.balances)
    for iban, balance in written.balances.items():
        assert Decimal(accounts[iban]["balance"]) == balance["ledger"]
        assert Decimal(accounts[iban]["available_balance"]) == balance["available"]
        assert accounts[iban]["iban"] == iban and accounts[iban]["currency"] == "EUR"
        assert accounts[iban]["institution"] == "Beispielbank AG"


def test_batches_become_one_record_per_transaction(tmp_path: Path) -> None:
    details = "<Btch><NbOfTxs>2</NbOfTxs></Btch>" + tx("10.00", "Anna", "B-1") + tx("2.50", "Ben", "B-2")
    got = transactions(write(tmp_path, document(entry("12.50", details=details))))
    assert {k: (v["amount"], v["counterparty"]) for k, v in got.items()} == {
        f"{IBAN}:REF1/B-1": ("-10.00", "Anna"),
        f"{IBAN}:REF1/B-2": ("-2.50", "Ben"),
    }


@pytest.mark.parametrize(
    "details",
    [
        tx("10.00", "Anna") + tx("2.00", "Ben"),  # 12.00: does not add up to the entry's 12.50
        tx("10.00", "Anna") + tx(None, "Ben"),  # one transaction without its own amount
    ],
)
def test_batches_that_do_not_add_up_stay_one_record_of_the_entry_amount(tmp_path: Path, details: str) -> None:
    (data,) = transactions(write(tmp_path, document(entry("12.50", details=details)))).values()
    assert data["amount"] == "-12.50" and data["batch_size"] == 2


def test_sign_comes_from_cdtdbtind_and_reversals_are_marked(tmp_path: Path) -> None:
    body = entry("5.00", "CRDT", "A") + entry("7.00", "DBIT", "B").replace("<Sts>", "<RvslInd>true</RvslInd><Sts>")
    got = transactions(write(tmp_path, document(body)))
    assert got[f"{IBAN}:A"]["amount"] == "5.00"
    assert got[f"{IBAN}:B"]["amount"] == "-7.00" and got[f"{IBAN}:B"]["reversal"] is True


def test_identical_payments_without_reference_stay_two_and_reimport_adds_nothing(tmp_path: Path) -> None:
    same = entry("3.20", ref=None, details=tx(None, "Bakery"))
    p = write(
        tmp_path, document(same + same + entry("3.20", ref=None, booked="2026-05-05", details=tx(None, "Bakery")))
    )
    keys = transactions(p)
    bases = [k.rsplit(":", 1)[0] for k in keys]
    assert len(keys) == 3 and sorted(bases.count(b) for b in set(bases)) == [1, 2]
    store = MemoryStore()
    import_file(CamtImporter(), p, store)
    assert import_file(CamtImporter(), p, store).new == 0 and len(store.records) == 3


def test_overlapping_statements_add_only_what_is_new(tmp_path: Path) -> None:
    day1 = entry("1.00", ref="R1", booked="2026-05-01") + entry("2.00", ref=None, booked="2026-05-01")
    day2 = entry("3.00", ref="R3", booked="2026-05-02") + entry("2.00", ref=None, booked="2026-05-02")
    store = MemoryStore()
    import_file(CamtImporter(), write(tmp_path, document(day1), "a.xml"), store)
    counts = import_file(CamtImporter(), write(tmp_path, document(day1 + day2), "b.xml"), store)
    assert (counts.new, counts.changed, len(store.records)) == (2, 0, 4)


def test_a_pending_entry_becomes_booked_under_the_same_key(tmp_path: Path) -> None:
    store = MemoryStore()
    pending = entry("9.99", ref="P1", status="<Sts><Cd>PDNG</Cd></Sts>").replace(
        "<BookgDt><Dt>2026-05-04</Dt></BookgDt>", ""
    )
    import_file(CamtImporter(), write(tmp_path, document(pending), "052.xml"), store)
    import_file(CamtImporter(), write(tmp_path, document(entry("9.99", ref="P1")), "053.xml"), store)
    ((key, (_, content, _)),) = [(k, v) for k, v in store.records.items() if k[0] == "bank.transaction"]
    assert key[1] == f"{IBAN}:P1" and '"status": "booked"' in content


def test_information_only_entries_are_not_transactions(tmp_path: Path) -> None:
    body = entry("1.00", ref="I1", status="<Sts>INFO</Sts>") + entry("2.00", ref="B1")
    assert list(transactions(write(tmp_path, document(body)))) == [f"{IBAN}:B1"]


def test_balances_pick_latest_booked_and_available_in_account_currency(tmp_path: Path) -> None:
    def bal(code: str, amount: str, day: str, ind: str = "CRDT", ccy: str = "EUR") -> str:
        return (
            f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy='{ccy}'>{amount}</Amt>"
            f"<CdtDbtInd>{ind}</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>"
        )

    balances = bal("OPBD", "100.00", "2026-05-01") + bal("CLBD", "40.00", "2026-05-31", "DBIT")
    balances += bal("CLAV", "999.00", "2026-05-31", ccy="SEK") + bal("OPAV", "80.00", "2026-05-01")
    (account,) = [r for r in records(write(tmp_path, document(entry(), balances))) if r.dataset == "bank.account"]
    assert account.data["balance"] == "-40.00" and account.data["balance_at"] == "2026-05-31T23:59:59+00:00"
    assert account.data["available_balance"] == "80.00"  # the SEK balance is not the account's


@pytest.mark.skipif(not SAMPLES.exists(), reason="shared/samples is not present")
def test_real_samples() -> None:
    gs053 = records(SAMPLES / "camt053_001_02_pyiso20022_gs.xml")
    trns = [r for r in gs053 if r.dataset == "bank.transaction"]
    assert len(trns) == 15 and {r.data["currency"] for r in trns} == {"USD", "EUR"}
    first = next(r for r in trns if r.key == "DD01100056869:B20092800002225")
    assert (first.data["amount"], first.data["reversal"], first.data["booked_on"]) == ("10.00", True, "2023-10-01")
    (acct,) = [r.data for r in gs053 if r.dataset == "bank.account"]
    assert (acct["balance"], acct["available_balance"]) == ("-846665.15", "334432401.27")
    gs052 = records(SAMPLES / "camt052_001_02_pyiso20022_gs.xml", {"timezone": "America/New_York"})
    assert len([r for r in gs052 if r.dataset == "bank.transaction"]) == 17
    assert all(
        r.data["balance_at"].endswith(("-04:00", "-05:00", "+00:00")) for r in gs052 if r.dataset == "bank.account"
    )
    genkgo = records(SAMPLES / "camt053_v2_minimal_genkgo.xml")
    (t,) = [r.data for r in genkgo if r.dataset == "bank.transaction"]
    assert (t["amount"], t["value_on"], t["counterparty"]) == ("8.85", "2015-01-02", "NAME NAME")
    for sample in SAMPLES.glob("camt*.xml"):
        assert CamtImporter.sniff(head_of(sample), sample.name)
    for other in SAMPLES.glob("*.sta"):
        assert not CamtImporter.sniff(head_of(other), other.name)


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/camt.dtd">',
        '<!-- <Document> --><!DOCTYPE Document [<!ENTITY e "x">]>',
    ],
)
def test_xml_bombs_external_entities_and_dtds_are_refused(tmp_path: Path, doctype: str) -> None:
    data = document(entry().replace("REF1", "&b;&xxe;&e;"), prolog='<?xml version="1.0"?>' + doctype)
    with pytest.raises(ImportFailed, match=r"bomb\.xml: DTDs and entity declarations are not allowed"):
        read_file(CamtImporter(), write(tmp_path, data, "bomb.xml"))


def test_undefined_entities_are_an_error_not_expanded(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match=r"e\.xml: line 1, column \d+: malformed XML: undefined entity"):
        read_file(CamtImporter(), write(tmp_path, document(entry(ref="&xxe;")), "e.xml"))


@pytest.mark.parametrize("cut", [0.3, 0.5, 0.77, 0.99])
def test_truncated_files_fail_naming_file_and_position(tmp_path: Path, cut: float) -> None:
    data = write_camt(tmp_path / "full.xml", days=4).path.read_bytes()
    p = write(tmp_path, data[: int(len(data) * cut)], "cut.xml")
    with pytest.raises(ImportFailed, match=r"cut\.xml: line \d+, column \d+: malformed XML: .*truncated"):
        read_file(CamtImporter(), p)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (entry(ind="CREDIT"), "CdtDbtInd is 'CREDIT'"),
        (entry(amount="-12.50"), "not an ISO 20022 amount"),
        (entry(amount="12,50"), "not an ISO 20022 amount"),
        (entry().replace(' Ccy="EUR"', ""), "without its currency"),
        (entry().replace('Ccy="EUR"', 'Ccy="Euro"'), "not an ISO 4217"),
        (entry(booked="04.05.2026"), "not a date"),
        (entry().replace("<CdtDbtInd>DBIT</CdtDbtInd>", ""), "CdtDbtInd is None"),
    ],
)
def test_bad_entries_fail_naming_file_and_entry(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ImportFailed, match=r"bad\.xml: entry 2 \(account DE89370400440532013000\): ") as err:
        read_file(CamtImporter(), write(tmp_path, document(entry("1.00", ref="OK") + body), "bad.xml"))
    assert message in str(err.value)


def test_malformed_xml_fails_with_line_and_column(tmp_path: Path) -> None:
    data = document(entry()).replace(b"</AcctSvcrRef>", b"</AcctSvcrRf>")
    with pytest.raises(ImportFailed, match=r"x\.xml: line 1, column \d+: malformed XML: mismatched tag"):
        read_file(CamtImporter(), write(tmp_path, data, "x.xml"))


def test_other_formats_and_other_iso20022_messages_are_refused(tmp_path: Path) -> None:
    pain = (
        b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03">'
        b"<CstmrCdtTrfInitn/></Document>"
    )
    p = write(tmp_path, pain, "pain.xml")
    assert not CamtImporter.sniff(head_of(p), p.name)
    with pytest.raises(ImportFailed, match="pain.xml: <CstmrCdtTrfInitn> is not a camt"):
        read_file(CamtImporter(), p)
    ofx = write(tmp_path, b"OFXHEADER:100\r\nDATA:OFXSGML\r\n\r\n<OFX></OFX>", "bank.xml")
    assert not CamtImporter.sniff(head_of(ofx), ofx.name)
    with pytest.raises(ImportFailed, match="bank.xml"):
        read_file(CamtImporter(), ofx)


def test_a_lying_charset_declaration_still_reads_names_right(tmp_path: Path) -> None:
    body = entry(details=tx(None, "Müller & Söhne").replace("&", "&amp;"))
    lying = write(tmp_path, document(body, prolog='<?xml version="1.0" encoding="ISO-8859-1"?>'), "lying.xml")
    (data,) = transactions(lying).values()
    assert data["counterparty"] == "Müller & Söhne" and data["amount"] == "-12.50"
    honest = document(body, prolog='<?xml version="1.0" encoding="ISO-8859-1"?>').decode().encode("latin-1")
    (data,) = transactions(write(tmp_path, honest, "latin1.xml")).values()
    assert data["counterparty"] == "Müller & Söhne"
    with pytest.raises(ImportFailed, match=r"utf8\.xml: line 1\b"):
        read_file(CamtImporter(), write(tmp_path, honest.replace(b"ISO-8859-1", b"UTF-8"), "utf8.xml"))
    unknown = write(tmp_path, document(body, prolog='<?xml version="1.0" encoding="UkF-8"?>'), "unknown.xml")
    with pytest.raises(ImportFailed, match="unknown.xml: the XML declaration names the encoding 'UkF-8'"):
        read_file(CamtImporter(), unknown)


def test_prefixed_and_unqualified_documents(tmp_path: Path) -> None:
    plain = document(entry())
    prefixed = plain.replace(b"</", b"\0").replace(b"<", b"<c:").replace(b"\0", b"</c:")
    prefixed = prefixed.replace(b"<c:?xml", b"<?xml").replace(b'<c:Document xmlns="', b'<c:Document xmlns:c="')
    unqualified = plain.replace(f' xmlns="{NS}"'.encode(), b"")
    expected = transactions(write(tmp_path, plain, "plain.xml"))
    assert transactions(write(tmp_path, prefixed, "prefixed.xml")) == expected
    assert transactions(write(tmp_path, unqualified, "unqualified.xml")) == expected


def test_chunk_boundaries_do_not_change_the_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write_camt(tmp_path / "s.xml", days=6, version=8, pending=1).path
    expected = records(p)
    for size in (5, 333, 4096):
        monkeypatch.setattr(camt.reader, "CHUNK", size)
        assert records(p) == expected


def test_normalize_is_pure_over_the_stored_raw(tmp_path: Path) -> None:
    for r in records(write_camt(tmp_path / "s.xml", days=4, pending=1).path):
        again = CamtImporter().normalize(Fragment(r.dataset, r.raw))
        mapped = again if isinstance(again, list) else [again]
        assert r.key in {m.key for m in mapped if m is not None}
        assert next(m for m in mapped if m is not None and m.key == r.key).data == r.data


def test_several_accounts_each_get_their_balance(tmp_path: Path) -> None:
    accounts = (Account(IBAN), Account("GB33BUKB20201555555555", "GBP", "Current"))
    got = records(write_camt(tmp_path / "s.xml", accounts=accounts, days=3).path)
    by_key = {r.key: r.data for r in got if r.dataset == "bank.account"}
    assert by_key["GB33BUKB20201555555555"]["currency"] == "GBP"
    assert {r.data["currency"] for r in got if r.data["account_id"] == "GB33BUKB20201555555555"} == {"GBP"}


def test_the_fast_reading_of_common_entries_agrees_with_the_xml_parser(tmp_path: Path) -> None:
    files = [write_camt(tmp_path / f"v{v}.xml", version=v, days=6, pending=2).path for v in (2, 4, 8, 10)]
    files += sorted(SAMPLES.glob("camt*.xml")) if SAMPLES.exists() else []
    account = {"id": IBAN, "currency": "EUR"}
    fast = quickest = 0
    for path in files:
        for block in re.findall(r"<Ntry>.*?</Ntry>", path.read_text(), re.S):
            quick = camt.fast_entry(block)
            if quick is None:
                continue
            fast += 1
            full = camt.to_data(ET.fromstring(block))
            raw = {"account": account, "entry": block}
            expected = [(r.key, r.data) for r in camt.entry_records(raw, full)]
            assert [(r.key, r.data) for r in camt.entry_records(raw, quick)] == expected
            assert camt.identity(account, quick) == camt.identity(account, full)
            direct = camt.quick_records(raw)
            if direct is not None:
                quickest += 1
                assert [(r.key, r.data) for r in direct] == expected
    assert fast > 100 and quickest > 100


def test_comments_in_the_body_give_the_same_records(tmp_path: Path) -> None:
    p = write_camt(tmp_path / "s.xml", days=5, version=8)
    text = p.path.read_text()
    commented = text.replace("</Ntry>", "</Ntry><!-- a <Ntry> in a comment -->", 3)
    q = write(tmp_path, commented.encode(), "commented.xml")
    assert [(r.key, r.data) for r in records(q)] == [(r.key, r.data) for r in records(p.path)]

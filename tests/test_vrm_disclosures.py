"""Signed minimal disclosures: the preview is exactly the package less its proof, a signature
holds until one byte changes, expiry and revoked keys are reported, every disclosure is logged,
and the proof is the W3C eddsa-jcs-2022 one (checked against the recommendation's test vector)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.testing.generators.jsonl import bank_transactions, energy_readings
from daemon.times import parse_instant
from daemon.vault import RecordIn, Vault
from daemon.vrm import disclosures, signing, verify
from daemon.vrm.canonical import CanonicalError, b58decode, b58encode, canonical
from daemon.vrm.disclosures import Draft, Extract

from .conftest import Cli

END = datetime(2026, 11, 1, tzinfo=UTC)
ELECTRICITY = Extract(
    "Electricity used per month",
    "energy.reading",
    "sum",
    "quantity",
    "month",
    "Europe/London",
    "2026-08-01T00:00:00+01:00",
    "2026-11-01T00:00:00+00:00",
    ("commodity=electricity", "direction=consumption"),
)
INCOME = Extract(
    "Money received per month", "bank.transaction", "sum", "amount", "month", "Europe/London",
    "2026-05-01T00:00:00+01:00", "2026-11-01T00:00:00+00:00", ("amount__gt=0",),
)  # fmt: skip


def records(lines: Iterator[dict[str, Any]], source: str, dataset: str) -> list[RecordIn]:
    return [RecordIn(source, dataset, x["key"], parse_instant(x["ts"]), x["data"]) for x in lines]


@pytest.fixture
def keys(vault: Vault) -> signing.KeyStore:
    vault.writer.upsert(records(energy_readings(days=120, end=END), "octopus-home", "energy.reading"))
    vault.writer.upsert(records(bank_transactions(days=200, end=END), "my-bank", "bank.transaction"))
    return signing.KeyStore(vault, os.urandom(32))


def issue(vault: Vault, keys: signing.KeyStore, draft: Draft) -> tuple[dict[str, Any], dict[str, Any]]:
    shown = disclosures.preview(vault, keys, draft)
    return shown, disclosures.issue(vault, keys, draft, shown["digest"])


def leaves(value: Any, path: str = "") -> set[str]:
    if isinstance(value, dict):
        return {p for k, v in value.items() for p in leaves(v, f"{path}.{k}")} or {path}
    if isinstance(value, list):
        return {p for i, v in enumerate(value) for p in leaves(v, f"{path}[{i}]")} or {path}
    return {f"{path}={json.dumps(value)}"}


def test_the_package_holds_what_the_preview_showed_and_nothing_else(vault: Vault, keys: signing.KeyStore) -> None:
    draft = Draft("Flat 3 landlord", "tenancy application: energy use and income", (ELECTRICITY, INCOME))
    shown, package = issue(vault, keys, draft)
    preview = shown["document"]
    assert {k: v for k, v in package.items() if k != "proof"} == preview
    assert leaves({k: v for k, v in package.items() if k != "proof"}) == leaves(preview)
    assert set(package["proof"]) == {"type", "cryptosuite", "created", "verificationMethod", "proofPurpose",
                                     "@context", "proofValue"}  # fmt: skip
    subject = preview["credentialSubject"]
    assert set(subject) == {"recipient", "purpose", "extracts"}  # no name unless the user adds one
    electricity, income = subject["extracts"]
    assert [r["start"][:7] for r in electricity["rows"]] == ["2026-08", "2026-09", "2026-10"]
    assert set(electricity["rows"][0]) == {"start", "unit", "count", "value"}
    assert electricity["sources"] == [
        {"source": "octopus-home", "first": "2026-07-31T23:00:00.000Z", "last": "2026-10-31T23:30:00.000Z",
         "records": sum(r["count"] for r in electricity["rows"])}
    ]  # fmt: skip
    assert all(r["value"] == "2850.00" and r["currency"] == "GBP" for r in income["rows"])
    assert income["query"]["where"] == ["amount__gt=0"] and income["sources"][0]["source"] == "my-bank"
    text = json.dumps(package)
    assert "TX0" not in text and "TESCO" not in text.upper() and "1200012345678" not in text  # no record leaks
    assert package["issuer"] == f"did:key:{keys.all()[0].id}" and package["issuer"].startswith("did:key:z6Mk")
    report = verify.verify(package, draft.issued_ms)
    assert report["status"] == "valid" and report["signed"] and report["extracts"] == [ELECTRICITY.label, INCOME.label]


def test_a_disclosure_is_signed_only_as_shown(vault: Vault, keys: signing.KeyStore) -> None:
    draft = Draft("Supplier", "tariff quote", (ELECTRICITY,))
    shown = disclosures.preview(vault, keys, draft)
    late = {**energy_readings(days=1, end=datetime(2026, 9, 2, tzinfo=UTC), seed=5).__next__(), "key": "late-1"}
    vault.writer.upsert(records(iter([late]), "octopus-home", "energy.reading"))  # the data changed since
    with pytest.raises(disclosures.DisclosureError, match="not what was shown"):
        disclosures.issue(vault, keys, draft, shown["digest"])
    assert disclosures.log(vault) == []
    again = disclosures.preview(vault, keys, draft)
    disclosures.issue(vault, keys, draft, again["digest"])
    with pytest.raises(disclosures.DisclosureError, match="issued already"):
        disclosures.issue(vault, keys, draft, again["digest"])
    assert len(disclosures.log(vault)) == 1


def test_one_changed_byte_fails_verification(vault: Vault, keys: signing.KeyStore) -> None:
    draft = Draft("Landlord", "rent", (ELECTRICITY,), valid_days=30)
    _, package = issue(vault, keys, draft)
    now = draft.issued_ms + 1000
    text = json.dumps(package, indent=1, ensure_ascii=False)
    assert verify.verify(json.loads(text), now)["valid"]
    tried = 0
    for i, c in enumerate(text):
        swaps = {"0": "1", "a": "b", "Z": "Y", "-": "+", "e": "f", "z": "y", "q": "r"}
        for other in swaps.get(c, "q" if c.isalnum() else ""):
            changed = text[:i] + other + text[i + 1 :]
            try:
                doc = json.loads(changed)
            except json.JSONDecodeError:
                continue
            if not isinstance(doc, dict):
                continue
            tried += 1
            report = verify.verify(doc, now)
            assert not report["valid"], (i, text[max(0, i - 30) : i + 30])
    assert tried > 1000
    digit = text.index('"value": "') + len('"value": "')
    changed = json.loads(text[:digit] + ("9" if text[digit] != "9" else "8") + text[digit + 1 :])
    assert verify.verify(changed, now)["status"] == "tampered"


def test_expired_and_not_yet_valid_are_reported(vault: Vault, keys: signing.KeyStore) -> None:
    draft = Draft("Landlord", "rent", (INCOME,), valid_days=7)
    _, package = issue(vault, keys, draft)
    until = parse_instant(package["validUntil"])
    assert verify.verify(package, until - 1)["status"] == "valid"
    expired = verify.verify(package, until)
    assert expired["status"] == "expired" and not expired["valid"] and expired["signed"]
    assert f"expired on {package['validUntil']}" in expired["problems"][0]
    assert verify.verify(package, draft.issued_ms - 1000)["status"] == "not_yet_valid"


def test_a_revoked_signing_key_is_reported(vault: Vault, keys: signing.KeyStore) -> None:
    draft = Draft("Landlord", "rent", (INCOME,))
    _, package = issue(vault, keys, draft)
    lookup = lambda k: (lambda f: None if f is None else (f.revoked_at, f.reason))(keys.find(k))  # noqa: E731
    now = draft.issued_ms + 1000
    assert verify.verify(package, now, lookup)["status"] == "valid"
    key_id = keys.all()[0].id
    keys.revoke(key_id, "laptop stolen")
    report = verify.verify(package, now, lookup)
    assert report["status"] == "revoked" and report["signed"] and report["key_known"]
    assert "laptop stolen" in report["problems"][0]
    # a new key signs from now on; what it signs verifies
    _, fresh = issue(vault, keys, Draft("Landlord", "rent", (INCOME,)))
    assert fresh["issuer"] != package["issuer"] and verify.verify(fresh, now, lookup)["status"] == "valid"
    # a retired key is reported too
    keys.create()
    assert verify.verify(fresh, now, lookup)["status"] == "revoked"
    assert [k.to_json()["status"] for k in keys.all()] == ["revoked", "revoked", "active"]


def test_the_disclosure_log_is_complete(vault: Vault, keys: signing.KeyStore) -> None:
    given = []
    for recipient, purpose, extracts in (
        ("Landlord", "tenancy", (INCOME,)),
        ("Octopus Energy", "tariff comparison", (ELECTRICITY,)),
        ("Bank", "loan", (INCOME, ELECTRICITY)),
    ):
        _, package = issue(vault, keys, Draft(recipient, purpose, extracts))
        given.append(package)
    logged = {d["id"]: d for d in disclosures.log(vault)}
    assert set(logged) == {p["id"] for p in given}
    for package in given:
        entry = logged[package["id"]]
        subject = package["credentialSubject"]
        assert entry["recipient"] == subject["recipient"] and entry["purpose"] == subject["purpose"]
        assert entry["extracts"] == [{"label": x["label"], "query": x["query"]} for x in subject["extracts"]]
        assert entry["valid_until"].startswith(package["validUntil"][:19])
        assert entry["key"] == package["issuer"].removeprefix("did:key:")
        assert entry["digest"] == disclosures.digest(package)
        assert entry["at"][:19] == package["proof"]["created"][:19]
        assert disclosures.package_of(vault, package["id"]) == package


def test_bad_drafts_are_refused_naming_the_problem(vault: Vault, keys: signing.KeyStore) -> None:
    for draft, why in (
        (Draft(" ", "rent", (INCOME,)), "recipient"),
        (Draft("x", "", (INCOME,)), "purpose"),
        (Draft("x", "rent", (INCOME,), valid_days=0), "1 to 366 days"),
        (Draft("x", "rent", ()), "1 to 12 extracts"),
        (
            Draft(
                "x", "rent", (Extract("Gas", "energy.reading", "sum", "quantity", "month", where=("commodity=gas",)),)
            ),
            "matches no records",
        ),  # fmt: skip
    ):
        with pytest.raises(disclosures.DisclosureError, match=why):
            disclosures.preview(vault, keys, draft)
    with pytest.raises(disclosures.DisclosureError, match="takes no 'password'"):
        Extract.from_json({"label": "x", "dataset": "bank.transaction", "password": "1"})


# The test vector of the W3C recommendation "Data Integrity EdDSA Cryptosuites v1.0" (eddsa-jcs-2022).
W3C_KEY = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
W3C_SECRET = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
W3C_CONTEXT = ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"]
W3C_CREDENTIAL = {
    "@context": W3C_CONTEXT,
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "AlumniCredential"],
    "name": "Alumni Credential",
    "description": "A minimum viable example of an Alumni Credential.",
    "issuer": "https://vc.example/issuers/5678",
    "validFrom": "2023-01-01T00:00:00Z",
    "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
}
W3C_PROOF = {
    "type": "DataIntegrityProof",
    "cryptosuite": "eddsa-jcs-2022",
    "created": "2023-02-24T23:36:38Z",
    "verificationMethod": f"https://vc.example/issuers/5678#{W3C_KEY}",
    "proofPurpose": "assertionMethod",
    "@context": W3C_CONTEXT,
}
W3C_PROOF_VALUE = "z63t83Y53KfzJ5ZosfKTnqfMcKB2dmTrfjSaQjeNNjAD5srBowQfmWqeRb8rRjmeEuCBEsddF9LsVogtuTsijJKh4"


def test_the_proof_is_the_w3c_eddsa_jcs_2022_one() -> None:
    seed = b58decode(W3C_SECRET[1:])
    assert seed[:2] == b"\x80\x26"  # multicodec ed25519-priv
    key = nacl.signing.SigningKey(seed[2:])
    assert signing.multikey(bytes(key.verify_key)) == W3C_KEY
    signature = key.sign(signing.hash_data(W3C_CREDENTIAL, W3C_PROOF)).signature
    assert "z" + b58encode(signature) == W3C_PROOF_VALUE  # Ed25519 is deterministic: byte for byte
    nacl.signing.VerifyKey(signing.public_of(W3C_KEY)).verify(
        signing.hash_data({**W3C_CREDENTIAL, "proof": {**W3C_PROOF, "proofValue": W3C_PROOF_VALUE}}, W3C_PROOF),
        b58decode(W3C_PROOF_VALUE[1:]),
    )


def test_canonical_json_follows_rfc_8785() -> None:
    # RFC 8785 section 3.2.3's example: by UTF-16 code units, U+1F600 (D83D DE00) sorts before U+FB33
    members = {"\u20ac": "Euro", "\r": "CR", "\ufb33": "Hebrew", "1": "One", "\U0001f600": "Smiley", "\u0080": "Ctl",
               "\u00f6": "Latin"}  # fmt: skip
    order = [k for k in json.loads(canonical(members))]
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    expected = b'{"a":0,"b":[true,null,"x\xe2\x80\xa8\\n\\u001f"]}'
    assert canonical({"b": [True, None, "x\u2028\n\u001f"], "a": -0}) == expected
    for bad in (1.5, 2**60, {1: "x"}, "\ud800"):
        with pytest.raises(CanonicalError):
            canonical(bad)
    assert b58decode(b58encode(b"\0\0abc")) == b"\0\0abc"


def _jsonl(path: Path, lines: Iterator[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_the_cli_shares_and_verifies(initialised: Path, run: Cli, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    run("import-jsonl", str(_jsonl(tmp_path / "e.jsonl", energy_readings(days=95, end=now))),
        "--source", "octopus-home", "--dataset", "energy.reading")  # fmt: skip
    out = tmp_path / "extract.json"
    qr = tmp_path / "extract.svg"
    made = run("share", "create", "--to", "Landlord", "--purpose", "tenancy", "--preset", "electricity-monthly",
               "--months", "2", "--zone", "UTC", "--days", "14", "-o", str(out), "--qr", str(qr), "--yes")  # fmt: skip
    assert "This is everything the recipient will get" in made.output
    package = json.loads(out.read_text())
    assert len(package["credentialSubject"]["extracts"][0]["rows"]) == 2
    assert qr.read_text().startswith("<svg")
    checked = run("verify", str(out))
    assert "VALID" in checked.output and "Electricity used per month" in checked.output
    offline = json.loads(run("verify", str(out), "--offline", "--json").output)
    assert offline["valid"] and offline["key_known"] is None
    tampered = tmp_path / "tampered.json"
    tampered.write_text(out.read_text().replace('"purpose": "tenancy"', '"purpose": "tenancy and credit"'))
    bad = run("verify", str(tampered), ok=False)
    assert bad.exit_code == 1 and "TAMPERED" in bad.output
    late = run("verify", str(out), "--at", package["validUntil"], ok=False)
    assert late.exit_code == 1 and "EXPIRED" in late.output
    listed = run("share", "list").output
    assert "Landlord" in listed and "tenancy" in listed and "Electricity used per month" in listed
    key = json.loads(run("share", "keys", "--json").output)[0]["did"]
    run("share", "revoke-key", key, "--reason", "lost")
    revoked = run("verify", str(out), ok=False)
    assert revoked.exit_code == 1 and "REVOKED" in revoked.output and "lost" in revoked.output
    assert json.loads(run("share", "show", package["id"]).output) == package
    not_json = tmp_path / "x.json"
    not_json.write_text("nope")
    assert "not JSON" in run("verify", str(not_json), "--offline", ok=False).output


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)
KEYS = st.sampled_from(["@context", "issuer", "validFrom", "validUntil", "credentialSubject", "proof", "id", "type"])
PROOF_KEYS = st.sampled_from(["type", "cryptosuite", "verificationMethod", "proofPurpose", "proofValue", "@context"])


PROOF_VALUES = JSON | st.sampled_from(["eddsa-jcs-2022", "DataIntegrityProof", "assertionMethod", "did:key:z6Mk"])


@settings(max_examples=300)
@given(
    document=st.dictionaries(KEYS | st.text(max_size=8), JSON, max_size=8),
    proof=st.dictionaries(PROOF_KEYS, PROOF_VALUES, max_size=6),
    subject=st.dictionaries(st.sampled_from(["recipient", "purpose", "extracts", "name"]), JSON, max_size=4),
)
def test_any_json_object_gets_a_report_never_a_crash(
    document: dict[str, Any], proof: dict[str, Any], subject: dict[str, Any]
) -> None:
    for candidate in (document, {**document, "proof": proof}, {**document, "credentialSubject": subject}):
        report = verify.verify(candidate, 0)
        assert not report["valid"] and report["problems"]
    with pytest.raises(verify.NotADisclosure):
        verify.parse(json.dumps([document]).encode())

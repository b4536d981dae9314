"""`selfdata import`: recognition by content, atomic runs, sources named after the format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon.plugins import Registry
from daemon.sources import SourceError, SourceStore
from daemon.sync import importing
from daemon.sync.importing import UnknownFormat, import_file
from daemon.vault import Vault
from daemon.vault import records as rec

from .conftest import Cli
from .plugins import OtherLines, write_lines

ROWS = [(f"k{i}", f"2026-01-{1 + i % 28:02d}T10:00:00+01:00", f"-{i}.50") for i in range(40)]


def stored(vault: Vault, source: str) -> dict[str, str]:
    return {r.key: r.data["amount"] for r in rec.iter_records(vault.conn, "bank.transaction", source=source)}


def test_import_goes_to_a_source_named_after_the_importer(vault: Vault, registry: Registry, tmp_path: Path) -> None:
    f = write_lines(tmp_path / "statement.txt", ROWS)
    result = import_file(vault, registry, f)
    assert result.ok and result.source.name == "sd-lines" and result.run.new == 40
    assert result.run.kind == "import" and result.run.detail["file"] == "statement.txt"
    again = import_file(vault, registry, f)
    assert (again.run.new, again.run.changed, again.run.unchanged) == (0, 0, 40)
    assert len(stored(vault, "sd-lines")) == 40


def test_importer_settings_come_from_the_source(vault: Vault, registry: Registry, tmp_path: Path) -> None:
    f = write_lines(tmp_path / "s.txt", ROWS[:2])
    result = import_file(vault, registry, f, source="card", values={"currency": "GBP"})
    assert result.source.settings == {"currency": "GBP"}
    assert {r.data["currency"] for r in rec.iter_records(vault.conn, "bank.transaction")} == {"GBP"}


def test_a_file_that_fails_half_way_stores_nothing(
    vault: Vault, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "BATCH", 7)  # several batches written before the failure
    good = write_lines(tmp_path / "good.txt", ROWS[:5])
    import_file(vault, registry, good)
    bad = write_lines(tmp_path / "bad.txt", ROWS[5:] + [("k0", "2026-01-01T10:00:00+01:00", "-999.99")], tail="boom\n")
    result = import_file(vault, registry, bad)
    assert result.run.status == "failed"
    assert "bad.txt, line 38" in (result.run.error or "")
    assert stored(vault, "sd-lines") == {k: a for k, _, a in ROWS[:5]}
    assert vault.conn.execute("SELECT count(*) FROM staging").fetchone()[0] == 0
    assert SourceStore(vault).get("sd-lines").health == "ok"  # the file failed, not the source


def test_deletes_in_a_file_apply_in_order(vault: Vault, registry: Registry, tmp_path: Path) -> None:
    f = write_lines(tmp_path / "d.txt", ROWS[:3], tail="delete;k1\n")
    result = import_file(vault, registry, f)
    assert result.run.deleted == 1 and set(stored(vault, "sd-lines")) == {"k0", "k2"}


def test_an_unknown_format_lists_the_formats_known(vault: Vault, registry: Registry, tmp_path: Path) -> None:
    f = tmp_path / "photo.jpg"
    f.write_bytes(b"\xff\xd8\xff\xe0 not a statement")
    with pytest.raises(UnknownFormat, match=r"photo.jpg: no importer recognises this file. Formats known: sd-lines"):
        import_file(vault, registry, f)


def test_two_importers_claiming_a_file_need_format(vault: Vault, registry: Registry, tmp_path: Path) -> None:
    registry.add(OtherLines, "test")
    f = write_lines(tmp_path / "s.txt", ROWS[:1])
    with pytest.raises(UnknownFormat, match="--format"):
        import_file(vault, registry, f)
    assert import_file(vault, registry, f, fmt="sd-lines-too").source.name == "sd-lines-too"


def test_a_source_of_another_format_is_refused(vault: Vault, registry: Registry, tmp_path: Path) -> None:
    SourceStore(vault).add("bank", "test-bank", "connector", {}, {})
    with pytest.raises(SourceError, match="fed by test-bank"):
        import_file(vault, registry, write_lines(tmp_path / "s.txt", ROWS[:1]), source="bank")


def test_import_cli_summary_and_failure_exit(initialised: Path, run: Cli, registry: Registry, tmp_path: Path) -> None:
    f = write_lines(tmp_path / "s.txt", ROWS[:3])
    out = run("import", str(f)).output
    assert "Imported s.txt (sd-lines) into sd-lines: 3 new" in out
    bad = write_lines(tmp_path / "bad.txt", ROWS[:3], tail="boom\n")
    r = run("import", str(bad), ok=False)
    assert r.exit_code == 1 and "bad.txt, line 5" in r.output and "Nothing from this file was stored" in r.output
    unknown = tmp_path / "x.bin"
    unknown.write_bytes(b"\0\1\2")
    r = run("import", str(unknown), ok=False)
    assert r.exit_code == 1 and "no importer recognises" in r.output
    runs = json.loads(run("runs", "sd-lines", "--json").output)
    assert [r["status"] for r in runs] == ["failed", "ok"]


def test_renormalize_remaps_from_raw(
    vault: Vault, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daemon.sync.renormalize import renormalize

    from .plugins import improve_lines_mapping

    import_file(vault, registry, write_lines(tmp_path / "s.txt", ROWS[:10]))
    improve_lines_mapping(monkeypatch)
    run = renormalize(vault, registry, "sd-lines")
    assert run.status == "ok" and run.changed == 10
    assert {r.data.get("category") for r in rec.iter_records(vault.conn, "bank.transaction")} == {"imported"}
    assert renormalize(vault, registry, "sd-lines").unchanged == 10


def test_a_failed_import_changes_no_setting_and_a_new_currency_goes_to_a_new_source(
    initialised: Path, run: Cli, tmp_path: Path
) -> None:
    from connectors.testing.generators.bank_csv import write_continental, write_midata

    midata, german = tmp_path / "midata.csv", tmp_path / "de.csv"
    write_midata(midata)
    write_continental(german)
    first = run("import", str(midata)).output
    assert "into bank-csv: 107 new" in first
    shared = run("import", str(german), "--format", "bank-csv", "--set", "currency=EUR", ok=False)
    print(shared.output)
    assert shared.exit_code == 1
    assert (
        "source 'bank-csv' already holds 107 records read with currency unset; changing currency could bring the "
        "same records in again beside them. Import into a source of its own: --source NAME" in shared.output
    )
    named = run(
        "import", str(german), "--format", "bank-csv", "--set", "currency=EUR", "--source", "bank-csv", ok=False
    )
    assert named.exit_code == 1 and "Nothing from this file was stored" in named.output
    assert "currency" not in json.loads(run("source", "show", "bank-csv", "--json").output)["settings"]
    new = run("import", str(german), "--format", "bank-csv", "--set", "currency=EUR", "--source", "de", ok=False)
    assert new.exit_code == 1 and "de" not in [s["name"] for s in json.loads(run("source", "list", "--json").output)]
    again = run("import", str(midata)).output
    assert "0 new, 0 changed, 107 unchanged" in again
    euro = run("import", str(midata), "--set", "currency=EUR", "--source", "uk-eur").output
    assert "into uk-eur: 107 new" in euro
    assert json.loads(run("source", "show", "uk-eur", "--json").output)["settings"]["currency"] == "EUR"


def test_a_bad_file_leaves_its_source_healthy_and_doctor_never_offers_sync(
    initialised: Path, run: Cli, registry: Registry, tmp_path: Path, home: Path
) -> None:
    run("import", str(write_lines(tmp_path / "good.txt", ROWS[:3])))
    bad = run("import", str(write_lines(tmp_path / "bad.txt", ROWS[:3], tail="boom\n")), ok=False)
    assert bad.exit_code == 1 and "bad.txt, line 5" in bad.output
    shown = json.loads(run("source", "show", "sd-lines", "--json").output)
    assert (shown["health"], shown["action"]) == ("ok", "")
    doctor = run("doctor").output
    print(doctor)
    assert "ok  source sd-lines: last import failed at" in doctor and "selfdata sync sd-lines" not in doctor
    # A vault whose importer source was marked failing before: the way out is another file.
    from daemon.session import Session

    vault, _ = Session.from_env().open()
    SourceStore(vault).set_health("sd-lines", "failing", "bad.txt, line 5: boom")
    vault.close()
    doctor = run("doctor", ok=False).output
    print(doctor)
    assert "selfdata import FILE --source sd-lines" in doctor and "selfdata sync sd-lines" not in doctor


def test_a_file_imported_before_is_recognised_and_not_read_again(
    vault: Vault, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = write_lines(tmp_path / "s.txt", ROWS)
    first = import_file(vault, registry, f)
    assert first.already is None
    copy = write_lines(tmp_path / "copy.txt", ROWS)  # the same bytes under another name

    def unread(*args: object) -> None:
        raise AssertionError("the file was read again")

    monkeypatch.setattr(type(registry.importers["sd-lines"]()), "read", unread)
    again = import_file(vault, registry, copy)
    assert again.ok and again.already is not None and again.already.id == first.run.id
    assert (again.run.new, again.run.changed, again.run.unchanged) == (0, 0, 40)
    assert len(stored(vault, "sd-lines")) == 40


def test_a_file_imported_before_is_read_again_once_its_records_may_differ(
    vault: Vault, registry: Registry, tmp_path: Path
) -> None:
    from daemon.rights.erase import erase

    f = write_lines(tmp_path / "s.txt", ROWS[:5])
    import_file(vault, registry, f)
    changed = write_lines(tmp_path / "c.txt", [(k, t, "-1.00") for k, t, _ in ROWS[:2]])
    import_file(vault, registry, changed)  # changes two of its records
    again = import_file(vault, registry, f)
    assert again.already is None and again.run.changed == 2
    assert import_file(vault, registry, f).already is not None
    erase(vault, dataset="bank.transaction")
    after_erase = import_file(vault, registry, f)
    assert after_erase.already is None and after_erase.run.new == 5
    other = import_file(vault, registry, f, source="card", values={"currency": "GBP"})
    assert other.already is None and other.run.new == 5  # another source has not seen it


def test_the_cli_says_when_a_file_was_imported_before(
    initialised: Path, run: Cli, registry: Registry, tmp_path: Path
) -> None:
    f = write_lines(tmp_path / "s.txt", ROWS[:3])
    run("import", str(f))
    out = run("import", str(f)).output
    assert "already imported into sd-lines on" in out and "nothing to do" in out

from __future__ import annotations

from pathlib import Path

import pytest

from daemon import config
from daemon.paths import Paths, home_paths, resolve, user_paths


def test_missing_file_means_defaults(paths: Paths) -> None:
    cfg = config.load(paths)
    assert (cfg.api_bind, cfg.api_port, cfg.key_file) == ("127.0.0.1", 7350, None)
    assert cfg.inbox_dir == paths.state_dir / "inbox"


def test_template_round_trips_and_is_private(paths: Paths, tmp_path: Path) -> None:
    config.write_default(paths, tmp_path / "k.key")
    assert oct(paths.config_file.stat().st_mode & 0o777) == "0o600"
    cfg = config.load(paths)
    assert cfg.key_file == tmp_path / "k.key" and cfg.api_allowed_hosts == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[api]\nport = 'x'\n", "api.port must be a int"),
        ("[api]\nport = 99999\n", "is not a TCP port"),
        ("[api]\nprot = 1\n", "unknown setting api.prot"),
        ("[nope]\n", "unknown section [nope]"),
        ("[api\n", "not valid TOML"),
        ("[log]\nlevel = 'loud'\n", "log.level must be one of"),
        ("[api]\nallowed_hosts = [1]\n", "list of strings"),
        ("[api]\ntrusted_proxies = ['127.0.0.1', 'proxy.lan']\n", "api.trusted_proxies: 'proxy.lan' is not an IP"),
    ],
)
def test_bad_config_names_the_file_and_key(paths: Paths, text: str, message: str) -> None:
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(text)
    with pytest.raises(config.ConfigError) as err:
        config.load(paths)
    assert str(paths.config_file) in str(err.value) and message in str(err.value)


def test_relative_paths_are_relative_to_the_config_file(paths: Paths) -> None:
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text('[vault]\nkey_file = "keys/k.key"\n')
    assert config.load(paths).key_file == paths.config_file.parent / "keys" / "k.key"


def test_selfdata_home_overrides_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFDATA_HOME", str(tmp_path / "h"))
    assert resolve(system=True) == home_paths(tmp_path / "h")
    monkeypatch.delenv("SELFDATA_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    p = user_paths()
    assert p.config_file == tmp_path / "cfg" / "selfdata" / "config.toml"
    assert p.vault_file == tmp_path / "data" / "selfdata" / "vault" / "vault.db"
    assert resolve(system=True).config_file == Path("/etc/selfdata/config.toml")


def test_inbox_settle_seconds_takes_a_number(paths: Paths) -> None:
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text("[inbox]\nsettle_seconds = 5\n")
    assert config.load(paths).inbox_settle_seconds == 5.0
    paths.config_file.write_text("[inbox]\nsettle_seconds = 'soon'\n")
    with pytest.raises(config.ConfigError, match="inbox.settle_seconds must be a float"):
        config.load(paths)


def test_trusted_proxies_take_addresses_and_networks(paths: Paths) -> None:
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text("[api]\ntrusted_proxies = ['127.0.0.1', '::1', '10.0.0.0/8']\n")
    assert config.load(paths).api_trusted_proxies == ("127.0.0.1", "::1", "10.0.0.0/8")


def test_init_stores_a_relative_key_file_absolute(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from .conftest import Cli

    run = Cli()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    run("init", "--key-file", "machine.key", "--no-passphrase")
    assert (work / "machine.key").exists()
    assert f'key_file = "{work / "machine.key"}"' in (home / "config.toml").read_text()
    assert config.load(home_paths(home)).key_file == work / "machine.key"
    monkeypatch.chdir(tmp_path)
    assert "unlocked by vault.key_file" in run("status").output  # from another folder too


def test_a_key_file_path_with_quotes_and_backslashes_stays_that_path(tmp_path: Path) -> None:
    paths = home_paths(tmp_path / "home")
    odd = tmp_path / 'my "keys" \\ folder' / "k.key"
    config.write_default(paths, odd)
    assert config.load(paths).key_file == odd

"""Packaging: the .deb (built for amd64 from PyPI wheels, inspected with dpkg-deb, installed
into a throwaway copy-on-write root), the Containerfile (checked statically: no container
engine runs here) and the install and remote-access docs."""

from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import click
import pytest

from daemon import __version__
from daemon.api.security import host_allowed
from daemon.cli import cli
from daemon.config import Config, load
from daemon.paths import home_paths

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
BUILD_DEB = PACKAGING / "build-deb.sh"
MAINTAINER_SCRIPTS = ("postinst", "prerm", "postrm")
CONTAINERFILE = PACKAGING / "Containerfile"
DOCS = ROOT / "docs"
PYTHONS = ("cp311", "cp312", "cp313")
API_PORT = Config(paths=home_paths(ROOT)).api_port


def run(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env)


# -- The scripts, statically -------------------------------------------------------------


def test_build_script_and_maintainer_scripts_parse() -> None:
    result = run("bash", "-n", str(BUILD_DEB))
    assert result.returncode == 0, result.stderr
    assert os.access(BUILD_DEB, os.X_OK)
    for name in MAINTAINER_SCRIPTS:
        script = PACKAGING / "debian" / name
        assert script.read_text().startswith("#!/bin/sh\n"), name
        result = run("sh", "-n", str(script))
        assert result.returncode == 0, f"{name}: {result.stderr}"


def test_maintainer_scripts_never_delete_the_vault_or_the_key() -> None:
    for name in MAINTAINER_SCRIPTS:
        for number, line in enumerate((PACKAGING / "debian" / name).read_text().splitlines(), 1):
            code = line.strip()
            if code.startswith(("#", "echo")) or not re.search(r"\brm(dir)?\b", code):
                continue
            for precious in ("vault", "selfdata.key", "rm -rf /var/lib/selfdata", "rm -rf /etc/selfdata"):
                assert precious not in code, f"{name}:{number} removes {precious}: {code}"


def test_build_script_refuses_an_unknown_architecture() -> None:
    result = run("bash", str(BUILD_DEB), "--arch", "riscv64")
    assert result.returncode == 1 and "unknown architecture 'riscv64'" in result.stderr


# -- The .deb ----------------------------------------------------------------------------


def pypi_unreachable() -> str | None:
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/")
    url = index.rstrip("/") + "/pip/"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10):
            return None
    except (urllib.error.URLError, OSError) as err:
        return f"the package index {urlsplit(url).netloc} is not reachable ({err})"


@pytest.fixture(scope="session")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """selfdata_<version>_amd64.deb, built once per test run (shared by pytest-xdist workers)."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed (Debian package: dpkg)")
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "deb-amd64"
    out.mkdir(exist_ok=True)
    with open(shared / "deb-amd64.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        package = out / f"selfdata_{__version__}_amd64.deb"
        failed = out / "skipped.txt"
        if failed.exists():
            pytest.skip(failed.read_text())
        if not package.exists():
            reason = pypi_unreachable()
            if reason:
                failed.write_text(reason)
                pytest.skip(reason)
            env = {**os.environ, "HOME": str(shared / "deb-home")}
            result = run(
                "bash",
                str(BUILD_DEB),
                "--arch",
                "amd64",
                "--out",
                str(out),
                "--cache",
                str(shared / "deb-cache"),
                "--python",
                sys.executable,
                timeout=300,
                env=env,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            assert result.stdout.strip() == str(package)
    return package


def field(deb: Path, name: str) -> str:
    return run("dpkg-deb", "--field", str(deb), name).stdout.strip()


def contents(deb: Path) -> dict[str, str]:
    """Path in the package -> its `ls -l`-style line."""
    listing = run("dpkg-deb", "--contents", str(deb)).stdout
    out = {}
    for line in listing.splitlines():
        path = line.split(None, 5)[5]
        out[path.split(" -> ")[0].removeprefix(".")] = line
    return out


def test_deb_control_fields(deb: Path) -> None:
    info = run("dpkg-deb", "--info", str(deb)).stdout
    assert field(deb, "Package") == "selfdata"
    assert field(deb, "Version") == __version__
    assert field(deb, "Architecture") == "amd64"
    depends = [d.strip() for d in field(deb, "Depends").split(",")]
    assert "python3 (>= 3.11)" in depends and "python3-venv" in depends
    assert "python3 (<< 3.14)" in depends  # no wheels for later Pythons
    assert int(field(deb, "Installed-Size")) > 10_000
    for script in MAINTAINER_SCRIPTS:
        assert re.search(rf"\d+ lines\s+\*\s+{script}\s+#!/bin/sh", info), f"{script} missing or not executable"


def test_deb_carries_every_dependency_for_amd64_and_each_python(deb: Path) -> None:
    files = contents(deb)
    wheels = sorted(Path(p).name for p in files if p.startswith("/usr/share/selfdata/wheels/") and p.endswith(".whl"))
    assert f"selfdata-{__version__}-py3-none-any.whl" in wheels
    for wheel in wheels:
        platform = wheel.removesuffix(".whl").split("-")[-1]
        assert platform == "any" or ("manylinux" in platform and "x86_64" in platform), wheel
        assert "aarch64" not in wheel, wheel
    names = {re.sub(r"[-_.]+", "-", w.split("-")[0]).lower() for w in wheels}
    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in wanted:
        name = re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~; ]", requirement)[0]).lower()
        assert name in names, f"no wheel for {name}"
    # A compiled dependency needs a wheel for each Python, unless it uses the stable ABI.
    compiled: dict[str, set[str]] = {}
    for wheel in wheels:
        python, abi, platform = wheel.removesuffix(".whl").split("-")[-3:]
        if platform != "any" and abi not in ("abi3", "none"):
            compiled.setdefault(wheel.split("-")[0], set()).add(python)
    assert {"sqlcipher3", "orjson", "aiohttp"} <= set(compiled)
    for project, pythons in compiled.items():
        assert set(PYTHONS) <= pythons, f"{project} lacks wheels for {set(PYTHONS) - pythons}"


def test_deb_installs_units_command_and_docs(deb: Path, tmp_path: Path) -> None:
    files = contents(deb)
    assert files["/usr/bin/selfdata"].startswith("lrwxrwxrwx")
    assert files["/usr/bin/selfdata"].endswith("-> /opt/selfdata/venv/bin/selfdata")
    for doc in ("install.md", "remote-access.md", "copyright", "README.md", "dashboard.md", "screenshots/home.png"):
        assert f"/usr/share/doc/selfdata/{doc}" in files
    # Every doc a message or a doc names is there, sources/ included.
    named = set()
    for path in [*(ROOT / "daemon").rglob("*.py"), *(ROOT / "connectors").rglob("*.py"), *DOCS.rglob("*.md")]:
        named |= set(re.findall(r"docs/((?:sources/)?[a-z0-9_-]+\.md)", path.read_text()))
    named |= {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    missing = sorted(d for d in named if f"/usr/share/doc/selfdata/{d}" not in files)
    assert not missing, f"docs the package does not ship: {missing}"
    assert not any(p.startswith(("/opt", "/var", "/etc")) for p in files), "the venv and the state are made at install"
    run("dpkg-deb", "--extract", str(deb), str(tmp_path))
    system = (tmp_path / "usr/lib/systemd/system/selfdata.service").read_text()
    assert system == (ROOT / "systemd/selfdata.service").read_text()
    user = (tmp_path / "usr/lib/systemd/user/selfdata.service").read_text()
    source = (ROOT / "systemd/selfdata-user.service").read_text()
    assert "ExecStart=/usr/bin/selfdata run\n" in user
    assert user == source.replace("ExecStart=%h/.local/bin/selfdata run\n", "ExecStart=/usr/bin/selfdata run\n")


def test_deb_maintainer_scripts_are_complete_and_parse(deb: Path, tmp_path: Path) -> None:
    result = run("dpkg-deb", "--control", str(deb), str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in MAINTAINER_SCRIPTS:
        script = tmp_path / name
        assert os.access(script, os.X_OK), name
        text = script.read_text()
        assert "@" not in re.sub(r"\S+@selfdata\.invalid", "", text), f"{name}: a placeholder was left"
        result = run("sh", "-n", str(script))
        assert result.returncode == 0, f"{name}: {result.stderr}"
    assert f'VERSION="{__version__}"' in (tmp_path / "postinst").read_text()


# What a system with systemd would do when starting the unit, done by hand in a root
# without systemd: StateDirectory= sets the mode, then ExecStartPre=+ runs as root.
INSTALL_SCENARIO = r"""
set -eu
say() { echo "== $*"; }
T="$1"; DEB="$2"
mkdir -p "$T/layer" "$T/root"
mount -t tmpfs tmpfs "$T/layer"
mkdir "$T/layer/upper" "$T/layer/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/layer/upper,workdir=$T/layer/work" "$T/root"
mount -t proc proc "$T/root/proc"
mount --bind /dev "$T/root/dev"
cp "$DEB" "$T/root/selfdata.deb"
cp "$T/prestart.sh" "$T/root/prestart.sh"
exec chroot "$T/root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin STATE_MODE="$3" /bin/sh -eu -c '
say() { echo "== $*"; }
rm -rf /var/lib/selfdata /etc/selfdata /opt/selfdata
old=/var/lib/selfdata/vault/vault.db
mkdir -p /var/lib/selfdata/vault && echo old-vault > $old && chmod 600 $old
before=$(ls -ln --full-time $old)
say install
dpkg -i /selfdata.deb
[ "$(ls -ln --full-time $old)" = "$before" ] && grep -qx old-vault $old && say existing vault untouched
say user $(getent passwd selfdata | cut -d: -f1,6,7) group $(getent group selfdata | cut -d: -f1)
say etc $(stat -c "%U:%G %a" /etc/selfdata)
say version $(selfdata --version)
[ ! -e /etc/systemd/system/multi-user.target.wants/selfdata.service ] && say service not enabled
rm -rf /var/lib/selfdata
selfdata --system init --key-file /etc/selfdata/selfdata.key --no-passphrase >/dev/null
sed -i "s/^port = .*/port = 0/" /etc/selfdata/config.toml
mkdir -p /var/lib/selfdata && chmod "$STATE_MODE" /var/lib/selfdata
sh -eu /prestart.sh
say config $(stat -c "%U:%G %a" /etc/selfdata/config.toml) key $(stat -c "%U:%G %a" /etc/selfdata/selfdata.key)
mkdir -p /run/credentials/selfdata.service
install -o selfdata -g selfdata -m 0400 /etc/selfdata/selfdata.key /run/credentials/selfdata.service/selfdata.key
useradd --create-home --groups selfdata alice
timeout 90 setpriv --reuid selfdata --regid selfdata --init-groups env HOME=/var/lib/selfdata \
  CREDENTIALS_DIRECTORY=/run/credentials/selfdata.service /opt/selfdata/venv/bin/selfdata --system run \
  >/tmp/daemon.log 2>&1 &
daemon=$!
trap "kill $daemon 2>/dev/null || true" EXIT
for i in $(seq 100); do [ -S /var/lib/selfdata/admin.sock ] && break; sleep 0.1; done
say socket $(stat -c "%U:%G %a" /var/lib/selfdata/admin.sock)
timeout 60 setpriv --reuid alice --regid alice --init-groups env HOME=/home/alice selfdata --system status
kill -TERM $daemon && wait $daemon && say daemon stopped cleanly
say purge
dpkg --purge selfdata
[ ! -e /opt/selfdata ] && say venv removed
[ ! -e /etc/selfdata/config.toml ] && say config removed
[ -s /var/lib/selfdata/vault/vault.db ] && [ -s /var/lib/selfdata/vault/keyslots.json ] \
  && [ -s /etc/selfdata/selfdata.key ] && say vault and key kept
'
"""


def _throwaway_root_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "installing into a throwaway root needs root (mount namespaces, chroot)"
    for tool in ("unshare", "chroot", "setpriv", "dpkg", "useradd"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    status = run("dpkg-query", "-W", "-f=${Status} ${Version}", "python3", "python3-venv")
    if status.returncode != 0 or status.stdout.count("install ok installed") != 2:
        return "this machine's Debian lacks python3 or python3-venv, which the package depends on"
    for name in ("selfdata", "alice"):
        if run("getent", "passwd", name).returncode == 0:
            return f"this machine already has a user {name}"
    probe = run("unshare", "-m", "--propagation", "private", "true")
    if probe.returncode != 0:
        return f"no mount namespaces here: {probe.stderr.strip()}"
    return None


def test_deb_installs_into_a_throwaway_root_and_keeps_the_vault_on_purge(deb: Path, tmp_path: Path) -> None:
    """dpkg -i, init, the unit's start-up steps, the daemon as `selfdata`, a member of the
    group using it, then dpkg --purge: all inside a copy-on-write view of this machine."""
    reason = _throwaway_root_unavailable()
    if reason:
        pytest.skip(reason)
    unit = (ROOT / "systemd/selfdata.service").read_text()
    prestart = re.search(r"^ExecStartPre=\+(.*)$", unit, re.M)
    mode = re.search(r"^StateDirectoryMode=(\d+)$", unit, re.M)
    assert prestart and mode
    (tmp_path / "prestart.sh").write_text(prestart.group(1) + "\n")
    result = run(
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        INSTALL_SCENARIO,
        "scenario",
        str(tmp_path),
        str(deb),
        mode.group(1),
        timeout=240,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    lines = [line.removeprefix("== ") for line in result.stdout.splitlines() if line.startswith("== ")]
    assert "existing vault untouched" in lines, out
    assert "found the existing vault in /var/lib/selfdata/vault; it was left as it is" in out
    assert "user selfdata:/var/lib/selfdata:/usr/sbin/nologin group selfdata" in lines
    assert "etc root:selfdata 750" in lines
    assert f"version selfdata, version {__version__}" in lines
    assert "service not enabled" in lines
    assert "config root:selfdata 640 key root:root 600" in lines
    assert "socket selfdata:selfdata 660" in lines
    assert "unlocked by systemd credential" in result.stdout, out
    assert "daemon stopped cleanly" in lines
    assert ["venv removed", "config removed", "vault and key kept"] == lines[-3:], out
    assert "your vault was kept: /var/lib/selfdata/vault" in out
    assert "the key that opens it: /etc/selfdata/selfdata.key" in out


# -- The Containerfile, statically -------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        word, _, rest = (pending + line).partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    assert not pending, "a continuation line ends the file"
    return out


@pytest.fixture(scope="module")
def image() -> list[tuple[str, str]]:
    return instructions(CONTAINERFILE)


def final_stage(image: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last = max(i for i, (word, _) in enumerate(image) if word == "FROM")
    return image[last:]


def test_containerfile_base_images_are_pinned_by_tag(image: list[tuple[str, str]]) -> None:
    bases = [args.split()[0] for word, args in image if word == "FROM"]
    assert bases
    for base in bases:
        name, _, tag = base.rpartition(":")
        assert name and tag and tag != "latest" and "/" not in tag, f"{base} is not pinned by a tag"
        assert "python" in name and tag.startswith("3.12-slim"), base


def test_containerfile_runs_as_a_user_with_the_vault_in_a_volume(image: list[tuple[str, str]]) -> None:
    stage = final_stage(image)
    users = [args for word, args in stage if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    volumes = " ".join(args for word, args in stage if word == "VOLUME")
    assert "/var/lib/selfdata" in volumes
    env = " ".join(args for word, args in stage if word == "ENV")
    assert "SELFDATA_HOME=/var/lib/selfdata" in env
    assert ("ENTRYPOINT", '["selfdata"]') in stage and ("CMD", '["run"]') in stage


def test_containerfile_health_check_asks_the_api_or_status(image: list[tuple[str, str]]) -> None:
    checks = [args for word, args in final_stage(image) if word == "HEALTHCHECK"]
    assert len(checks) == 1
    assert f"http://127.0.0.1:{API_PORT}/api/v1/health" in checks[0] or "selfdata status" in checks[0]


def test_containerfile_bakes_in_no_secret_and_keeps_the_api_on_loopback(image: list[tuple[str, str]]) -> None:
    text = " ".join(f"{word} {args}" for word, args in image)
    assert not re.search(r"\bsd_[A-Za-z0-9_-]{20,}", text), "a token"
    assert not re.search(r"\b[0-9a-f]{64}\b", text), "a key"
    for word, args in image:
        if word in ("COPY", "ADD"):
            sources = [a for a in args.split()[:-1] if not a.startswith("--")]
            assert not any(s.endswith((".key", ".pem")) or "secret" in s for s in sources), args
            if "--from=" not in args:
                for source in sources:
                    assert (ROOT / source).exists(), f"{word} {source}: not in the repository"
        if word == "ARG":
            assert not re.search(r"(?i)key|token|pass|secret", args), f"a secret build argument: {args}"
        if word == "ENV":
            for name, value in re.findall(r"(\w+)=(\S+)", args):
                if re.search(r"(?i)key|token|pass|secret", name):
                    assert value.startswith("/run/secrets/"), f"{name} must point to a secret file, not hold one"
    assert "unsafe_allow_remote_bind" not in text and "0.0.0.0" not in text


# -- The docs ----------------------------------------------------------------------------


def shell_lines(doc: Path) -> list[str]:
    """Each command of the ```sh blocks, continuation lines joined, comments dropped."""
    blocks = re.findall(r"```sh\n(.*?)```", doc.read_text(), flags=re.S)
    return [line for block in blocks for line in block.replace("\\\n", " ").splitlines() if line.strip()]


GLOBAL_WITH_VALUE = {"--home", "--passphrase-file", "--recovery-key-file"}


def selfdata_invocations(line: str) -> list[list[str]]:
    """The arguments of each `selfdata` run on a shell line (after sudo, env and VAR=value)."""
    calls: list[list[str]] = []
    command: list[str] = []
    for word in [*shlex.split(line, comments=True), ";"]:
        if word not in ("&&", "||", "|", ";"):
            command.append(word)
            continue
        while command and (command[0] in ("sudo", "env") or re.fullmatch(r"\w+=.*", command[0])):
            command = command[1:]
        if command and (command[0] == "selfdata" or command[0].endswith("/bin/selfdata")):
            calls.append(command[1:])
        command = []
    return calls


def check_invocation(where: str, argv: list[str]) -> None:
    """`selfdata ARGV` names a command that exists, with options that command (or the group) takes."""
    command: click.Command = cli
    cli.list_commands(click.Context(cli))  # the CLI imports a command's module when asked for it
    words = list(argv)
    while words and words[0].startswith("--"):
        words = words[2:] if words[0] in GLOBAL_WITH_VALUE else words[1:]
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        sub = command.commands.get(words[0])
        assert sub is not None, f"{where}: `selfdata {' '.join(argv)}`: no command {words[0]!r}"
        command, words = sub, words[1:]
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)} | {"--help", "-h"}
    unknown = [w for w in words if w.startswith("--") and w.split("=")[0] not in known]
    assert not unknown, f"{where}: `selfdata {' '.join(argv)}`: unknown options {unknown}"


@pytest.mark.parametrize(("doc", "at_least"), [("install.md", 8), ("remote-access.md", 1)])
def test_every_selfdata_command_in_the_docs_exists(doc: str, at_least: int) -> None:
    checked = 0
    for line in shell_lines(DOCS / doc):
        for argv in selfdata_invocations(line):
            check_invocation(doc, argv)
            checked += 1
    assert checked >= at_least


def test_every_command_the_package_and_units_tell_the_user_exists() -> None:
    """What postinst prints, the package description and the units' comments are run as typed."""
    sources = {
        "postinst": re.findall(
            r'echo "\s*(?:then: )?((?:sudo )?selfdata .*?)"', (ROOT / "packaging/debian/postinst").read_text()
        ),
        "control.in": re.findall(r"`([^`]*selfdata[^`]*)`", (ROOT / "packaging/debian/control.in").read_text()),
        **{
            unit.name: re.findall(r"^#\s{2,}((?:sudo )?selfdata .*)$", unit.read_text(), flags=re.M)
            for unit in (ROOT / "systemd").glob("*.service")
        },
    }
    checked = 0
    for where, lines in sources.items():
        for line in lines:
            for argv in selfdata_invocations(line.split("   (")[0]):
                check_invocation(where, argv)
                checked += 1
    assert checked >= 4


def test_install_doc_covers_the_path_to_a_running_service() -> None:
    text = (DOCS / "install.md").read_text()
    for needed in (
        "sudo apt install ./selfdata_",
        "pipx install selfdata",
        "sudo selfdata --system init --key-file /etc/selfdata/selfdata.key --no-passphrase",
        "recovery key",
        "selfdata --system source add",
        "sudo systemctl enable --now selfdata",
        "selfdata --system status",
        "usermod -aG selfdata",
        "journalctl -u selfdata",
        "selfdata --system backup",
        "### Restore",
        "dpkg-reconfigure selfdata",
        "sudo apt purge selfdata",
        "LoadCredentialEncrypted=",
        "systemd-time-wait-sync",
    ):
        assert needed in text, needed
    assert re.search(r"\| \d+ MiB \| \d+ MiB \|", text), "the measured idle memory"
    assert re.search(r"rates the system unit\s+\*\*\d+\.\d OK\*\*", text), "the systemd-analyze security score"


def test_remote_access_config_admits_the_proxy_name_only(tmp_path: Path) -> None:
    text = (DOCS / "remote-access.md").read_text()
    snippet = re.search(r"```toml\n(.*?)```", text, flags=re.S)
    assert snippet
    (tmp_path / "config.toml").write_text(snippet.group(1))
    config = load(home_paths(tmp_path))
    assert config.api_bind == "127.0.0.1" and not config.api_unsafe_allow_remote_bind
    (name,) = config.api_allowed_hosts
    assert host_allowed(name, config.api_allowed_hosts)
    assert host_allowed(f"{name}:443", config.api_allowed_hosts)
    assert not host_allowed("evil.example", config.api_allowed_hosts)
    assert not host_allowed(name, ())  # without the setting the API refuses the proxy's name
    # Both proxies forward to the loopback API and keep the Host header for that check.
    assert f"reverse_proxy 127.0.0.1:{API_PORT}" in text
    assert f"proxy_pass http://127.0.0.1:{API_PORT};" in text
    assert "proxy_set_header Host $host;" in text
    assert f"server_name {name};" in text and f"\n{name} {{\n" in text

#!/usr/bin/env bash
# Build selfdata_<version>_<arch>.deb for amd64 and arm64 on any Linux machine, arm64
# included: nothing is compiled, the dependencies' wheels are downloaded for the target.
#
#   packaging/build-deb.sh [--arch amd64|arm64|all] [--out DIR] [--cache DIR] [--python PY]
#
# Needs: python3 with pip (from PyPI or Debian), dpkg-deb (Debian's dpkg), network to PyPI.
# The package carries the project wheel and its dependencies' wheels for Python 3.11, 3.12
# and 3.13 in /usr/share/selfdata/wheels; its postinst builds /opt/selfdata/venv from them
# offline with the machine's python3. See docs/install.md.
set -euo pipefail

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
    echo "build-deb: $*" >&2
    exit 1
}

ARCHES="amd64 arm64"
OUT=dist
CACHE=""
PYTHON=${PYTHON:-python3}
PY_VERSIONS="3.11 3.12 3.13"

while [ $# -gt 0 ]; do
    case $1 in
    --arch)
        [ $# -ge 2 ] || die "--arch needs amd64, arm64 or all"
        case $2 in
        all) ARCHES="amd64 arm64" ;;
        amd64 | arm64) ARCHES=$2 ;;
        *) die "unknown architecture '$2' (amd64, arm64 or all)" ;;
        esac
        shift 2
        ;;
    --out)
        [ $# -ge 2 ] || die "--out needs a directory"
        OUT=$2
        shift 2
        ;;
    --cache)
        [ $# -ge 2 ] || die "--cache needs a directory"
        CACHE=$2
        shift 2
        ;;
    --python)
        [ $# -ge 2 ] || die "--python needs an interpreter"
        PYTHON=$2
        shift 2
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
done

command -v dpkg-deb >/dev/null || die "dpkg-deb is missing: apt-get install dpkg"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEBIAN_DIR="$ROOT/packaging/debian"
VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ROOT/daemon/__init__.py")
[ -n "$VERSION" ] || die "no __version__ in daemon/__init__.py"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Reproducible timestamps in the package: the last commit's time unless given.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PIP_CACHE=()
if [ -n "$CACHE" ]; then
    mkdir -p "$CACHE"
    PIP_CACHE=(--cache-dir "$(cd "$CACHE" && pwd)/pip")
fi

# The project wheel, built from a copy of the sources so the working tree stays clean.
mkdir "$WORK/src"
(cd "$ROOT" && tar --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml README.md daemon connectors) |
    tar -xf - -C "$WORK/src"
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check "${PIP_CACHE[@]}" --no-deps -w "$WORK/project" "$WORK/src"
PROJECT_WHEEL="$WORK/project/selfdata-$VERSION-py3-none-any.whl"
[ -f "$PROJECT_WHEEL" ] || die "the project wheel was not built"

build_one() {
    local arch=$1 machine
    case $arch in
    amd64) machine=x86_64 ;;
    arm64) machine=aarch64 ;;
    esac
    local root="$WORK/root-$arch"
    local wheels="$root/usr/share/selfdata/wheels"
    install -d -m 0755 "$root/DEBIAN" "$wheels" "$root/usr/bin" "$root/usr/lib/systemd/system" \
        "$root/usr/lib/systemd/user" "$root/usr/share/doc/selfdata"

    # Every dependency as a binary wheel for this architecture, resolved for each supported
    # Python (markers differ), the three downloads side by side.
    local py pids=() failed=0
    echo "build-deb: $arch: downloading wheels for Python $PY_VERSIONS" >&2
    for py in $PY_VERSIONS; do
        "$PYTHON" -m pip download --quiet --disable-pip-version-check "${PIP_CACHE[@]}" \
            --only-binary=:all: --implementation cp --python-version "$py" \
            --platform "manylinux_2_17_$machine" --platform "manylinux2014_$machine" \
            --platform "manylinux_2_28_$machine" \
            -d "$WORK/download-$arch-$py" "$PROJECT_WHEEL" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=1
    done
    [ "$failed" = 0 ] || die "$arch: some wheels could not be downloaded (see above)"
    for py in $PY_VERSIONS; do
        cp -n "$WORK/download-$arch-$py"/*.whl "$wheels/"
    done
    local wheel tag
    for wheel in "$wheels"/*.whl; do
        tag=${wheel##*-}
        tag=${tag%.whl}
        case $tag in
        any | *manylinux*_"$machine"*) ;;
        *) die "$arch: $(basename "$wheel") is for another platform" ;;
        esac
    done
    chmod 0644 "$wheels"/*.whl

    install -m 0644 "$ROOT/systemd/selfdata.service" "$root/usr/lib/systemd/system/selfdata.service"
    install -m 0644 "$ROOT/systemd/selfdata-backup.service" "$root/usr/lib/systemd/system/selfdata-backup.service"
    install -m 0644 "$ROOT/systemd/selfdata-backup.timer" "$root/usr/lib/systemd/system/selfdata-backup.timer"
    sed 's#^ExecStart=%h/\.local/bin/selfdata #ExecStart=/usr/bin/selfdata #' "$ROOT/systemd/selfdata-user.service" \
        >"$root/usr/lib/systemd/user/selfdata.service"
    chmod 0644 "$root/usr/lib/systemd/user/selfdata.service"
    ln -s /opt/selfdata/venv/bin/selfdata "$root/usr/bin/selfdata"
    # Every doc, as the tree it is (messages name docs/inbox.md, docs/sources/energy.md, ...).
    install -m 0644 "$ROOT/README.md" "$root/usr/share/doc/selfdata/README.md"
    (cd "$ROOT/docs" && find . -type f \( -name '*.md' -o -name '*.png' \) | sort) | while read -r doc; do
        install -D -m 0644 "$ROOT/docs/$doc" "$root/usr/share/doc/selfdata/${doc#./}"
    done
    install -m 0644 "$DEBIAN_DIR/copyright" "$root/usr/share/doc/selfdata/copyright"

    local size
    size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$size/" \
        "$DEBIAN_DIR/control.in" >"$root/DEBIAN/control"
    local script
    for script in postinst prerm postrm; do
        sed "s/@VERSION@/$VERSION/" "$DEBIAN_DIR/$script" >"$root/DEBIAN/$script"
        chmod 0755 "$root/DEBIAN/$script"
    done

    local deb="$OUT/selfdata_${VERSION}_${arch}.deb"
    # Wheels are zip files already: xz would shrink the package by 1% at twenty times the time.
    dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >/dev/null
    echo "$deb"
}

for arch in $ARCHES; do
    build_one "$arch"
done

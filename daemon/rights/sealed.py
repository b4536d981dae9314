"""Encrypted exports: a tar stream sealed with a passphrase (Argon2id, XChaCha20-Poly1305 secretstream).

File layout: a magic line, one JSON header line (KDF limits, salt, stream header), then
length-prefixed encrypted chunks; the last carries the FINAL tag, so a truncated file
is detected rather than silently shortened.
"""

from __future__ import annotations

import base64
import os
import shutil
import struct
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import nacl.bindings as nb
import nacl.exceptions
import orjson

from ..errors import SelfdataError
from ..vault.keys import KdfProfile, new_salt, passphrase_key

MAGIC = b"selfdata-encrypted-export 1\n"
CHUNK = 1 << 16
_FINAL = nb.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_MESSAGE = nb.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE


class SealedError(SelfdataError, ValueError):
    """A sealed export cannot be opened: wrong passphrase, damaged or truncated."""


class _SealingWriter:
    """A write-only file object that encrypts what tarfile writes into it."""

    def __init__(self, out: BinaryIO, key: bytes) -> None:
        self.out = out
        self.state = nb.crypto_secretstream_xchacha20poly1305_state()
        self.header = nb.crypto_secretstream_xchacha20poly1305_init_push(self.state, key)
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        while len(self.buffer) > CHUNK:
            self._push(bytes(self.buffer[:CHUNK]), _MESSAGE)
            del self.buffer[:CHUNK]
        return len(data)

    def _push(self, data: bytes, tag: int) -> None:
        sealed = nb.crypto_secretstream_xchacha20poly1305_push(self.state, data, None, tag)
        self.out.write(struct.pack(">I", len(sealed)) + sealed)

    def close(self) -> None:
        self._push(bytes(self.buffer), _FINAL)
        self.buffer.clear()


def seal(folder: Path, out: Path, passphrase: str, kdf: KdfProfile) -> None:
    """Write every file of `folder` into `out`, encrypted to `passphrase`."""
    if not passphrase:
        raise SealedError("an empty passphrase protects nothing")
    salt = new_salt()
    key = passphrase_key(passphrase, salt, kdf)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        writer = _SealingWriter(f, key)
        header = {
            "kdf": "argon2id",
            "opslimit": kdf.opslimit,
            "memlimit": kdf.memlimit,
            "salt": base64.b64encode(salt).decode(),
            "stream": base64.b64encode(writer.header).decode(),
        }
        f.write(MAGIC + orjson.dumps(header) + b"\n")
        with tarfile.open(fileobj=writer, mode="w|") as tar:  # type: ignore[call-overload]
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    tar.add(path, arcname=str(path.relative_to(folder)))
        writer.close()


class _OpeningReader:
    def __init__(self, f: BinaryIO, key: bytes, header: bytes, name: str) -> None:
        self.chunks = self._chunks(f, key, header, name)
        self.buffer = b""

    @staticmethod
    def _chunks(f: BinaryIO, key: bytes, header: bytes, name: str) -> Iterator[bytes]:
        state = nb.crypto_secretstream_xchacha20poly1305_state()
        try:
            nb.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key)
        except (nacl.exceptions.CryptoError, ValueError) as err:
            raise SealedError(f"{name}: damaged header") from err
        while True:
            size = f.read(4)
            if len(size) < 4:
                raise SealedError(f"{name} is truncated: its end is missing")
            sealed = f.read(struct.unpack(">I", size)[0])
            try:
                data, tag = nb.crypto_secretstream_xchacha20poly1305_pull(state, sealed, None)
            except (nacl.exceptions.CryptoError, ValueError) as err:
                raise SealedError(f"{name}: wrong passphrase, or the file is damaged") from err
            yield data
            if tag == _FINAL:
                return

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buffer) < n:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buffer += chunk
        if n < 0:
            out, self.buffer = self.buffer, b""
        else:
            out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out


def unseal(sealed: Path, out: Path, passphrase: str) -> list[str]:
    """Extract a sealed export into the new folder `out`; returns the files written.

    The files go to a hidden folder beside `out`, renamed into place once the whole stream
    has opened: a wrong passphrase or a damaged file leaves no `out` behind.
    """
    if out.exists():
        raise SealedError(f"{out} already exists: give a new folder")
    with sealed.open("rb") as f:
        if f.readline() != MAGIC:
            raise SealedError(f"{sealed.name} is not an encrypted selfdata export")
        try:
            header = orjson.loads(f.readline())
            kdf = KdfProfile(int(header["opslimit"]), int(header["memlimit"]))
            key = passphrase_key(passphrase, base64.b64decode(header["salt"]), kdf)
            stream = base64.b64decode(header["stream"])
        except (ValueError, KeyError, TypeError) as err:
            raise SealedError(f"{sealed.name}: damaged header") from err
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        try:
            names = _extract(_OpeningReader(f, key, stream, sealed.name), partial, sealed.name)
            partial.rename(out)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return names


def _extract(reader: _OpeningReader, into: Path, name: str) -> list[str]:
    """Write each regular file of the tar stream under `into`, by hand: tarfile's `filter=`
    is missing from Python 3.11 before 3.11.4 (Debian 12 has 3.11.2), and nothing but plain
    files with relative names is accepted anyway."""
    names = []
    with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or not parts or member.name.startswith("/") or ".." in parts:
                raise SealedError(f"{name}: refusing the entry {member.name!r}")
            target = into.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            source = tar.extractfile(member)
            assert source is not None  # a regular file
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError as err:
                raise SealedError(f"{name}: the entry {member.name!r} appears twice") from err
            with os.fdopen(fd, "wb") as dest:
                shutil.copyfileobj(source, dest, CHUNK)
            names.append(member.name)
    return names

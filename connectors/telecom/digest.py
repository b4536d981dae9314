"""HTTP digest authentication (RFC 7616, and RFC 2617 servers) over the SDK's Http.

The FRITZ!Box TR-064 interface asks for it (realm "F!Box SOAP-Auth", MD5, qop=auth). The
exchange: a request without credentials draws a 401 with a challenge; the same request is
sent again with an Authorization header. The nonce is then reused with a growing nonce
count, so later requests cost one round trip. A refusal of fresh credentials is AuthFailed
at once: never a second guess, so the box's login lockout is never triggered.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from yarl import URL

from connectors.sdk import AuthFailed, Http, Response

_HASHES: dict[str, Callable[[bytes], Any]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
}
# auth-param = token "=" ( token / quoted-string ), separated by commas
_PARAM = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*,?')


@dataclass(frozen=True)
class Challenge:
    realm: str
    nonce: str
    qop: tuple[str, ...] = ()
    algorithm: str = "MD5"
    opaque: str | None = None
    stale: bool = False


def parse_challenge(header: str) -> Challenge | None:
    """The Digest challenge of a WWW-Authenticate header (which may list other schemes too)."""
    match = re.search(r"(?:^|,)\s*Digest\s+", header, re.IGNORECASE)
    if match is None:
        return None
    params: dict[str, str] = {}
    pos = match.end()
    while pos < len(header):
        m = _PARAM.match(header, pos)
        if m is None or m.end() == pos:
            break
        value = m.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[m.group(1).lower()] = value
        pos = m.end()
        if re.match(r"\s*[A-Za-z]+\s+[A-Za-z]", header[pos:]):
            break  # the next scheme begins
    if "nonce" not in params or "realm" not in params:
        return None
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        qop=qop,
        algorithm=params.get("algorithm", "MD5"),
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
    )


def digest_response(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: int,
    cnonce: str,
    body: bytes = b"",
) -> tuple[str, str | None]:
    """The `response` value and the qop used, as RFC 7616 section 3.4.1 computes them."""
    algorithm = challenge.algorithm.upper()
    session = algorithm.endswith("-SESS")
    base = algorithm[: -len("-SESS")] if session else algorithm
    if base not in _HASHES:
        raise AuthFailed(f"the device asks for digest algorithm {challenge.algorithm}, which selfdata does not support")
    hash_fn = _HASHES[base]

    def h(text: str | bytes) -> str:
        data = text.encode("utf-8") if isinstance(text, str) else text
        return str(hash_fn(data).hexdigest())

    ha1 = h(f"{username}:{challenge.realm}:{password}")
    if session:
        ha1 = h(f"{ha1}:{challenge.nonce}:{cnonce}")
    qop = "auth" if "auth" in challenge.qop else "auth-int" if "auth-int" in challenge.qop else None
    ha2 = h(f"{method}:{uri}:{h(body)}") if qop == "auth-int" else h(f"{method}:{uri}")
    if qop is None:  # RFC 2069 servers
        return h(f"{ha1}:{challenge.nonce}:{ha2}"), None
    return h(f"{ha1}:{challenge.nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}"), qop


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class DigestAuth:
    """Sends requests through `Http`, answering digest challenges. One per source run."""

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password
        self._challenge: Challenge | None = None
        self._nc = 0

    def authorization(self, method: str, url: str, body: bytes = b"") -> str:
        if self._challenge is None:
            raise RuntimeError("no challenge yet")
        self._nc += 1
        cnonce = secrets.token_hex(8)
        uri = URL(url).raw_path_qs
        response, qop = digest_response(
            self._challenge,
            username=self._username,
            password=self._password,
            method=method,
            uri=uri,
            nc=self._nc,
            cnonce=cnonce,
            body=body,
        )
        parts = [
            f"username={_quote(self._username)}",
            f"realm={_quote(self._challenge.realm)}",
            f"nonce={_quote(self._challenge.nonce)}",
            f"uri={_quote(uri)}",
            f"algorithm={self._challenge.algorithm}",
            f"response={_quote(response)}",
        ]
        if qop is not None:
            parts += [f"qop={qop}", f"nc={self._nc:08x}", f"cnonce={_quote(cnonce)}"]
        if self._challenge.opaque is not None:
            parts.append(f"opaque={_quote(self._challenge.opaque)}")
        return "Digest " + ", ".join(parts)

    async def request(
        self,
        http: Http,
        method: str,
        url: str,
        *,
        data: bytes = b"",
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> Response:
        """The answer to `method url`, authenticated; AuthFailed when the credentials are refused."""
        fresh = False
        if self._challenge is None:
            first = await http.request(method, url, data=data, headers=headers, ok=(401, *ok), **kwargs)
            if first.status != 401:
                return first  # the device did not ask for credentials
            self._adopt(first)
            fresh = True
        for _ in range(2):
            auth = {**(headers or {}), "Authorization": self.authorization(method, url, data)}
            resp = await http.request(method, url, data=data, headers=auth, ok=(401, *ok), **kwargs)
            if resp.status != 401:
                return resp
            if fresh:
                break
            # The reused nonce expired: answer the new challenge once.
            self._adopt(resp)
            fresh = True
        raise AuthFailed(
            f"{URL(url).origin()} refused the user name or password (HTTP 401); check them and log in again"
        )

    def _adopt(self, resp: Response) -> None:
        header = next((v for k, v in resp.headers.items() if k.lower() == "www-authenticate"), "")
        challenge = parse_challenge(header)
        if challenge is None:
            raise AuthFailed(f"{URL(resp.url).origin()} asks for a login selfdata cannot answer ({header[:60]!r})")
        self._challenge = challenge
        self._nc = 0

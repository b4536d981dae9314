"""Digest authentication: the RFC test vectors, challenge parsing, and the exchange's request count."""

from __future__ import annotations

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from connectors.sdk import AuthFailed, Http
from connectors.telecom.digest import Challenge, DigestAuth, digest_response, parse_challenge
from connectors.testing.fakeserver import FakeServer


def test_rfc2617_example() -> None:
    challenge = Challenge(
        realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop=("auth", "auth-int")
    )
    response = digest_response(
        challenge,
        username="Mufasa",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        nc=1,
        cnonce="0a4f113b",
    )
    assert response == ("6629fae49393a05397450978507c4ef1", "auth")


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm: str, expected: str) -> None:
    challenge = Challenge(
        realm="http-auth@example.org",
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        qop=("auth", "auth-int"),
        algorithm=algorithm,
    )
    cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
    response = digest_response(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        method="GET",
        uri="/dir/index.html",
        nc=1,
        cnonce=cnonce,
    )
    assert response == (expected, "auth")


def test_fritzbox_challenge_and_other_schemes() -> None:
    box = parse_challenge('Digest realm="F!Box SOAP-Auth", nonce="F758BE72FB999CEA", algorithm=MD5, qop="auth"')
    assert box == Challenge(realm="F!Box SOAP-Auth", nonce="F758BE72FB999CEA", qop=("auth",), algorithm="MD5")
    mixed = parse_challenge(
        'Basic realm="x", Digest realm="r", qop="auth, auth-int", nonce="n", opaque="o", stale=TRUE'
    )
    assert mixed is not None and (mixed.qop, mixed.opaque, mixed.stale) == (("auth", "auth-int"), "o", True)
    assert parse_challenge('Basic realm="x"') is None
    assert parse_challenge('Digest realm="x"') is None  # no nonce


def test_unsupported_algorithm_is_auth_failed() -> None:
    with pytest.raises(AuthFailed, match="SHA-512"):
        digest_response(
            Challenge(realm="r", nonce="n", qop=("auth",), algorithm="SHA-512"),
            username="u",
            password="p",
            method="GET",
            uri="/",
            nc=1,
            cnonce="c",
        )


@given(st.text(max_size=200))
def test_parse_challenge_never_raises(header: str) -> None:
    parse_challenge(header)
    parse_challenge("Digest " + header)


def digest_server(password: str, *, nonce_uses: int = 100) -> FakeServer:
    """A server checking SHA-256 digests with qop=auth-int, and counting its nonces' uses."""
    nonces: dict[str, int] = {}

    async def handler(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        body = await request.read()
        if header.startswith("Digest "):
            import re

            p = {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', header)}
            challenge = Challenge(realm="api", nonce=p["nonce"], qop=("auth-int",), algorithm="SHA-256")
            expected, _ = digest_response(
                challenge,
                username="u",
                password=password,
                method=request.method,
                uri=p["uri"],
                nc=int(p["nc"], 16),
                cnonce=p["cnonce"],
                body=body,
            )
            if p["nonce"] in nonces and p["response"] == expected and nonces[p["nonce"]] < nonce_uses:
                nonces[p["nonce"]] += 1
                return web.Response(text="ok")
        nonce = f"n{len(nonces)}"
        nonces[nonce] = 0
        stale = ", stale=true" if header else ""
        challenge_header = f'Digest realm="api", nonce="{nonce}", qop="auth-int", algorithm=SHA-256{stale}'
        return web.Response(status=401, headers={"WWW-Authenticate": challenge_header})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return FakeServer(app)


async def test_nonce_is_reused_then_renewed_once() -> None:
    async with digest_server("secret", nonce_uses=2) as server, Http() as http:
        auth = DigestAuth("u", "secret")
        for _ in range(3):
            resp = await auth.request(http, "POST", f"{server.url}/x?y=1", data=b"<a/>")
            assert resp.text == "ok"
        # 401 + 2 answered with the first nonce, then 401 (expired) + 1 with the second
        assert server.count() == 5


async def test_wrong_password_costs_two_requests() -> None:
    async with digest_server("secret") as server, Http() as http:
        with pytest.raises(AuthFailed, match="refused"):
            await DigestAuth("u", "wrong").request(http, "GET", f"{server.url}/x")
        assert server.count() == 2

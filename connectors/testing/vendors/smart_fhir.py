"""A fake SMART on FHIR server: discovery, authorization code with PKCE, expiring and rotating
tokens, and patient-scoped FHIR R4 searches paged through `Bundle.link` `next`.

    server = make_server(months=6)          # FakeServer; await server.start()
    smart = smart_state(server)             # knobs: expire tokens, loop a Bundle, answer HTML...

Demo credentials: client id `selfdata-demo` (a public client: PKCE, no secret); the
refresh token `demo-refresh-token` is valid from the start, so a source can be set up
without a browser with the secret `token` = `DEMO_TOKEN`. The authorize endpoint consents
at once and redirects back with a code. The FHIR base URL is `{server.url}/fhir`.

`make_server(vendor=...)` answers like a given server on the points where servers refuse
what a generic client sends:

- "generic" (the default, and the demo's): every type, `patient/*.read`.
- "bluebutton": CMS Blue Button 2.0 v2, from its public server code (bluebutton-web-server):
  `scopes_supported` is its list (no `fhirUser`, `offline_access` or `patient/*.read`); an
  authorization asking for any other scope answers HTTP 400 `{"status_code": 400,
  "message": "Invalid scopes."}`; searches take `_count` up to 50, more is HTTP 400
  (`{"detail": "value must be at most 50"}`); only Patient, Coverage and
  ExplanationOfBenefit exist (others 404); the CapabilityStatement lists those three.
- "epic": an Observation search without `category` (or `code`, `_id`) answers HTTP 400 with
  an OperationOutcome of severity `fatal`, code `required` (as public clients recorded from
  Epic's sandbox); `scopes_supported` names no resource scopes and scopes are not checked.

`state.declare_combinations` adds the US Core search-parameter-combination extension to the
CapabilityStatement (Observation: patient + category), which US Core servers publish.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ..fakeserver import FakeServer
from ..generators.fhir import START, patient_record

CLIENT_ID = "selfdata-demo"
PATIENT = "pat-1"
DEMO_REFRESH = "demo-refresh-token"
DEMO_TOKEN = json.dumps(
    {
        "access_token": "demo-expired-access",
        "refresh_token": DEMO_REFRESH,
        "expires_at": 0,
        "extra": {"patient": PATIENT},
    }
)
FHIR_JSON = "application/fhir+json"
GENERIC_SCOPES = ["openid", "fhirUser", "launch/patient", "offline_access", "patient/*.read"]
# Blue Button 2.0's SCOPES_SUPPORTED (apps/wellknown/constants.py).
BLUEBUTTON_SCOPES = [
    "openid",
    "profile",
    "launch/patient",
    "patient/Patient.read",
    "patient/ExplanationOfBenefit.read",
    "patient/Coverage.read",
    "patient/Patient.rs",
    "patient/ExplanationOfBenefit.rs",
    "patient/Coverage.rs",
]
EPIC_SCOPES = ["openid", "fhirUser", "launch", "launch/patient", "offline_access", "online_access"]
BLUEBUTTON_TYPES = ("Patient", "Coverage", "ExplanationOfBenefit")
COMBINATION = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination"


@dataclass
class SmartState:
    resources: list[dict[str, Any]]
    page_size: int = 20
    token_ttl: int = 3600
    clock: Callable[[], float] = time.time
    access: dict[str, float] = field(default_factory=dict)  # token -> expiry
    refresh: dict[str, str] = field(default_factory=lambda: {DEMO_REFRESH: " ".join(GENERIC_SCOPES)})  # -> scope
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    vendor: str = "generic"
    scopes_supported: list[str] = field(default_factory=lambda: list(GENERIC_SCOPES))
    check_scopes: bool = True  # refuse an authorization asking for a scope not supported
    max_count: int | None = None  # `_count` above this answers 400 (else it is quietly capped)
    offered: tuple[str, ...] | None = None  # the only types that exist (others 404)
    category_required: bool = False  # Observation searches need category, code or _id
    declare_combinations: bool = False
    searches: list[str] = field(default_factory=list)  # "Type?param=value&..." of each search
    token_requests: int = 0
    refused_refreshes: int = 0
    loop_type: str | None = None  # this type's second page links back to the first
    html_token_endpoint: bool = False
    reject_refresh: bool = False

    def expire_access_tokens(self) -> None:
        self.access.clear()

    def update(self, resource: dict[str, Any]) -> None:
        """A resource changed on the server: its meta.lastUpdated moves to now."""
        now = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        resource = {**resource, "meta": {**resource.get("meta", {}), "lastUpdated": now}}
        self.resources = [
            r for r in self.resources if (r["resourceType"], r["id"]) != (resource["resourceType"], resource["id"])
        ]
        self.resources.append(resource)

    def _issue(self, scope: str) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.access[access] = self.clock() + self.token_ttl
        self.refresh[refresh] = scope
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
            "scope": scope,
            "refresh_token": refresh,
            "patient": PATIENT,
        }


SMART = web.AppKey("smart", SmartState)


def smart_state(server: FakeServer) -> SmartState:
    return server.app[SMART]


def make_server(
    *,
    seed: int = 1,
    months: int = 6,
    start: datetime = START,
    page_size: int = 20,
    token_ttl: int = 3600,
    vendor: str = "generic",
) -> FakeServer:
    state = SmartState(patient_record(months=months, seed=seed, patient_id=PATIENT, start=start), page_size, token_ttl)
    state.vendor = vendor
    if vendor == "bluebutton":
        state.scopes_supported, state.max_count, state.offered = list(BLUEBUTTON_SCOPES), 50, BLUEBUTTON_TYPES
        state.resources = [r for r in state.resources if r["resourceType"] in BLUEBUTTON_TYPES]
        state.page_size = max(page_size, 50)
    elif vendor == "epic":
        state.scopes_supported, state.check_scopes, state.category_required = list(EPIC_SCOPES), False, True
    elif vendor != "generic":
        raise ValueError(f"unknown vendor {vendor!r}")
    app = web.Application()
    app[SMART] = state
    app.router.add_get("/fhir/.well-known/smart-configuration", _configuration)
    app.router.add_get("/fhir/metadata", _metadata)
    app.router.add_get("/auth/authorize", _authorize)
    app.router.add_post("/auth/token", _token)
    app.router.add_get("/fhir/{type}/{id}", _read)
    app.router.add_get("/fhir/{type}", _search)
    return FakeServer(app)


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def _configuration(request: web.Request) -> web.Response:
    o = _origin(request)
    return web.json_response(
        {
            "issuer": f"{o}/auth",
            "authorization_endpoint": f"{o}/auth/authorize",
            "token_endpoint": f"{o}/auth/token",
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "scopes_supported": list(request.app[SMART].scopes_supported),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "capabilities": [
                "launch-standalone",
                "client-public",
                "context-standalone-patient",
                "permission-offline",
                "permission-patient",
            ],
        }
    )


async def _metadata(request: web.Request) -> web.Response:
    state = request.app[SMART]
    statement: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "fhirVersion": "4.0.1",
        "kind": "instance",
        "format": ["json"],
        "date": "2025-01-01",
    }
    if state.offered is not None or state.declare_combinations or state.category_required:
        kinds = state.offered or tuple(sorted({r["resourceType"] for r in state.resources}))
        statement["rest"] = [{"mode": "server", "resource": [_described(kind, state) for kind in kinds]}]
    return web.json_response(statement, content_type=FHIR_JSON)


def _described(kind: str, state: SmartState) -> dict[str, Any]:
    params = {"Patient": ["_id", "_lastUpdated"], "Coverage": ["beneficiary", "_lastUpdated"]}.get(
        kind, ["patient", "_lastUpdated"]
    )
    if kind == "Observation":
        params += ["category", "code", "date"]
    out: dict[str, Any] = {
        "type": kind,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [{"name": n, "type": "token"} for n in params],
    }
    if kind == "Observation" and state.declare_combinations:
        out["extension"] = [
            {
                "url": COMBINATION,
                "extension": [
                    {"url": "required", "valueString": "patient"},
                    {"url": "required", "valueString": "category"},
                ],
            }
        ]
    return out


def _outcome(status: int, text: str, **headers: str) -> web.Response:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login", "diagnostics": text}]}
    return web.json_response(body, status=status, content_type=FHIR_JSON, headers=headers)


async def _authorize(request: web.Request) -> web.Response:
    q = request.query
    state = request.app[SMART]
    if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
        return web.Response(status=400, text="unknown client")
    if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
        return web.Response(status=400, text="PKCE with S256 is required")
    if not q.get("aud", "").endswith("/fhir"):
        return web.Response(status=400, text="aud must be the FHIR base URL")
    scope = q.get("scope", "")
    if state.check_scopes and not set(scope.split()) <= set(state.scopes_supported):
        return web.json_response({"status_code": 400, "message": "Invalid scopes."}, status=400)
    code = secrets.token_urlsafe(12)
    state.codes[code] = {"challenge": q["code_challenge"], "redirect_uri": q.get("redirect_uri", ""), "scope": scope}
    target = f"{q.get('redirect_uri')}?{urlencode({'code': code, 'state': q.get('state', '')})}"
    raise web.HTTPFound(target)


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


async def _token(request: web.Request) -> web.Response:
    state = request.app[SMART]
    state.token_requests += 1
    if state.html_token_endpoint:
        page = "<!DOCTYPE html><html><head><title>Patient Portal - Sign in</title></head><body>Sign in</body></html>"
        return web.Response(text=page, content_type="text/html")
    form = await request.post()
    if form.get("client_id") != CLIENT_ID:
        return _oauth_error("invalid_client", "unknown client", 401)
    grant = form.get("grant_type")
    if grant == "authorization_code":
        pending = state.codes.pop(str(form.get("code")), None)
        if pending is None:
            return _oauth_error("invalid_grant", "unknown or used code")
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if challenge != pending["challenge"]:
            return _oauth_error("invalid_grant", "PKCE verification failed")
        if form.get("redirect_uri") != pending["redirect_uri"]:
            return _oauth_error("invalid_grant", "redirect_uri differs")
        return web.json_response(state._issue(pending["scope"]))
    if grant == "refresh_token":
        token = str(form.get("refresh_token"))
        if state.reject_refresh or token not in state.refresh:
            state.refused_refreshes += 1
            return _oauth_error("invalid_grant", "refresh token revoked or unknown")
        scope = state.refresh[token]
        if token != DEMO_REFRESH:  # the demo's token lasts; issued ones are rotated: each works once
            del state.refresh[token]
        return web.json_response(state._issue(scope))
    return _oauth_error("unsupported_grant_type", f"grant_type {grant!r}")


def _authorized(request: web.Request) -> web.Response | None:
    state = request.app[SMART]
    auth = request.headers.get("Authorization", "")
    expiry = state.access.get(auth.removeprefix("Bearer "))
    if not auth.startswith("Bearer ") or expiry is None or expiry < state.clock():
        return _outcome(401, "invalid or expired token", **{"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return None


async def _read(request: web.Request) -> web.Response:
    refused = _authorized(request)
    if refused is not None:
        return refused
    kind, rid = request.match_info["type"], request.match_info["id"]
    for r in request.app[SMART].resources:
        if r["resourceType"] == kind and r["id"] == rid:
            return web.json_response(r, content_type=FHIR_JSON)
    return _outcome(404, f"{kind}/{rid} not found")


def _required(param: str) -> web.Response:
    issue = {
        "severity": "fatal",
        "code": "required",
        "details": {"text": "A required search parameter is missing."},
        "diagnostics": param,
    }
    return web.json_response({"resourceType": "OperationOutcome", "issue": [issue]}, status=400, content_type=FHIR_JSON)


def _categories(resource: dict[str, Any]) -> set[str]:
    return {c.get("code") for cc in resource.get("category") or [] for c in cc.get("coding") or []}


def _matches(resource: dict[str, Any], kind: str, query: Any) -> bool:
    if resource["resourceType"] != kind:
        return False
    if "category" in query and query["category"].split("|")[-1] not in _categories(resource):
        return False
    if kind == "Patient":
        return "_id" not in query or resource["id"] == query["_id"]
    for param in ("patient", "beneficiary"):
        if param in query:
            ref = resource.get(param) or resource.get("subject") or {}
            return ref.get("reference") == f"Patient/{query[param]}"
    return True


def _updated_after(resource: dict[str, Any], bound: str | None) -> bool:
    if not bound:
        return True
    prefix, value = (bound[:2], bound[2:]) if bound[:2] in ("ge", "gt") else ("ge", bound)
    when = datetime.fromisoformat(resource["meta"]["lastUpdated"])
    limit = datetime.fromisoformat(value)
    return when >= limit if prefix == "ge" else when > limit


async def _search(request: web.Request) -> web.Response:
    refused = _authorized(request)
    if refused is not None:
        return refused
    state = request.app[SMART]
    kind = request.match_info["type"]
    q = request.query
    state.searches.append(f"{kind}?{urlencode(sorted((k, v) for k, v in q.items() if k != '_page'))}")
    if state.offered is not None and kind not in state.offered:
        return _outcome(404, f"Unknown resource type {kind}")
    if kind in ("Device", "Binary"):
        return _outcome(403, f"the patient has not granted {kind}")
    if state.max_count is not None and int(q.get("_count", "10")) > state.max_count:
        return web.json_response({"detail": f"value must be at most {state.max_count}"}, status=400)
    if kind == "Observation" and state.category_required and not {"category", "code", "_id"} & set(q):
        return _required("category")
    try:
        hits = [r for r in state.resources if _matches(r, kind, q) and _updated_after(r, q.get("_lastUpdated"))]
    except ValueError:
        return _outcome(400, "bad _lastUpdated")
    hits.sort(key=lambda r: (r["meta"]["lastUpdated"], r["id"]))
    size = min(int(q.get("_count", state.page_size)), state.page_size)
    page = int(q.get("_page", "1"))
    chunk = hits[(page - 1) * size : page * size]
    base = f"{_origin(request)}{request.path}"
    params = {k: v for k, v in q.items() if k != "_page"}
    links = [{"relation": "self", "url": f"{base}?{urlencode({**params, '_page': page})}"}]
    if page * size < len(hits):
        nxt = 1 if state.loop_type == kind and page == 2 else page + 1
        links.append({"relation": "next", "url": f"{base}?{urlencode({**params, '_page': nxt})}"})
    bundle = {
        "resourceType": "Bundle",
        "id": secrets.token_hex(8),
        "meta": {"lastUpdated": datetime.fromtimestamp(state.clock(), UTC).isoformat()},
        "type": "searchset",
        "total": len(hits),
        "link": links,
        "entry": [
            {
                "fullUrl": f"{_origin(request)}/fhir/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in chunk
        ],
    }
    return web.json_response(bundle, content_type=FHIR_JSON)

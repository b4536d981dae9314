"""SMART on FHIR: any FHIR R4 server with patient access (hospital portals, CMS Blue Button 2.0).

- Discovery from `{base}/.well-known/smart-configuration` (else the CapabilityStatement's
  oauth-uris extension).
- OAuth 2.0 authorization code with PKCE (S256): `authorization_url` and
  `complete_authorization`; tokens in the `token` secret, refreshed at expiry or on a 401,
  once per source at a time (`oauth.OAuthSession`).
- One search per resource type, scoped to the patient, paged through `Bundle.link` `next`
  (a link back to a page already read stops the sync with a clear error; a link to another
  server is refused: the token is never sent elsewhere); incremental through
  `_lastUpdated`, the newest `meta.lastUpdated` seen per type kept in the checkpoint state.
- Resources go through `fhir_mapping`, as FHIR files do.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode, urlsplit

from connectors.sdk import (
    AuthFailed,
    Checkpoint,
    Connector,
    Context,
    Delete,
    Fatal,
    Field,
    Fragment,
    InvalidRecord,
    Item,
    Record,
    Response,
    Secret,
)

from . import oauth
from .fhir_mapping import CLINICAL, OBSERVATION, FhirInvalid, keep_whole, map_resource, parse_datetime

DEFAULT_TYPES = (
    "Patient,AllergyIntolerance,Condition,Encounter,Immunization,MedicationRequest,Observation,Procedure,"
    "DiagnosticReport,Coverage,ExplanationOfBenefit"
)
DEFAULT_SCOPE = "launch/patient openid fhirUser offline_access patient/*.read"
MAX_PAGES = 5000
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
# The search parameter that scopes each type to the patient.
PATIENT_PARAM = {"Patient": "_id", "Coverage": "beneficiary"}
FHIR_JSON = "application/fhir+json"


class SmartFhirConnector(Connector):
    name = "smart-fhir"
    title = "SMART on FHIR patient access (hospital portals, Blue Button 2.0)"
    category = "health"
    datasets = (OBSERVATION, CLINICAL)
    schedule = "daily"
    needs_authorization = True
    description = "Your clinical record from any FHIR R4 server that offers SMART patient access."
    fields = (
        Field(
            "fhir_base_url", "The FHIR server's base URL, e.g. https://sandbox.bluebutton.cms.gov/v2/fhir", type="url"
        ),
        Field("client_id", "The client id of the app you registered with the portal"),
        Secret("client_secret", "The client secret, for a confidential client only", required=False),
        Field("scope", "OAuth scopes to ask for", required=False, default=DEFAULT_SCOPE),
        Field("resource_types", "Comma-separated resource types to read", required=False, default=DEFAULT_TYPES),
        Field("page_size", "Resources per page (_count)", type="int", required=False, default=100),
    )

    # Browser authorization

    async def authorization_url(self, ctx: Context, redirect_uri: str) -> str:
        config = await _discover(ctx)
        verifier, challenge = oauth.pkce_pair()
        state = await oauth.save_pending(
            ctx, verifier=verifier, redirect_uri=redirect_uri, token_endpoint=config["token_endpoint"]
        )
        query = {
            "response_type": "code",
            "client_id": ctx.settings["client_id"],
            "redirect_uri": redirect_uri,
            "scope": ctx.settings.get("scope") or DEFAULT_SCOPE,
            "state": state,
            "aud": _base(ctx),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{config['authorization_endpoint']}?{urlencode(query)}"

    async def complete_authorization(self, ctx: Context, redirect_uri: str, code_or_url: str) -> None:
        pending = oauth.load_pending(ctx)
        code = oauth.code_from(code_or_url, pending["state"])
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.get("redirect_uri") or redirect_uri,
            "code_verifier": pending["verifier"],
        }
        endpoint = pending["token_endpoint"]
        tokens = oauth.from_token_answer(await _token_request(ctx, endpoint, form), ctx.now())
        tokens = oauth.with_extra(tokens, token_endpoint=endpoint)
        await oauth.OAuthSession(ctx, _refresher(ctx)).store(tokens)
        await oauth.clear_pending(ctx)
        if not tokens.refresh_token:
            ctx.warn(
                "the server gave no refresh token (no offline_access): selfdata will need a new authorization "
                "when this access expires"
            )

    # Sync

    async def check(self, ctx: Context) -> None:
        client = _Client(ctx)
        patient = client.session.tokens().extra.get("patient")
        await client.get(f"{_base(ctx)}/Patient/{patient}" if patient else f"{_base(ctx)}/metadata")

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        client = _Client(ctx)
        since: dict[str, str] = dict(state.get("since") or {})
        types = [t.strip() for t in str(ctx.settings.get("resource_types") or DEFAULT_TYPES).split(",") if t.strip()]
        pending = [t for t in state.get("pending") or types if t in types]
        for i, kind in enumerate(pending):
            newest = since.get(kind)
            async for item, updated in self._search(ctx, client, kind, since.get(kind)):
                yield item
                if updated is not None and _later(updated, newest):
                    newest = updated
            if newest is not None:
                since[kind] = newest
            rest = pending[i + 1 :]
            yield Checkpoint({"since": since, "pending": rest} if rest else {"since": since})

    def normalize(self, fragment: Fragment) -> list[Record]:
        """Re-map a stored Observation (its raw is the resource), as the FHIR importer does."""
        try:
            return [item for item in map_resource(fragment.raw) if isinstance(item, Record)]
        except FhirInvalid as err:
            raise InvalidRecord(str(err)) from None

    async def _search(
        self, ctx: Context, client: _Client, kind: str, since: str | None
    ) -> AsyncIterator[tuple[Record | Delete, str | None]]:
        query: dict[str, str] = {"_count": str(ctx.settings.get("page_size") or 100)}
        patient = client.session.tokens().extra.get("patient")
        if patient:
            query[PATIENT_PARAM.get(kind, "patient")] = str(patient)
        if since:
            query["_lastUpdated"] = f"ge{since}"
        url: str | None = f"{_base(ctx)}/{kind}?{urlencode(query)}"
        seen: set[str] = set()
        pages = 0
        warned = False
        while url is not None:
            if url in seen:
                raise Fatal(
                    f"the FHIR server's paging loops: after {pages} pages of {kind}, the next link points back to "
                    f"a page already read ({url}); nothing of {kind} from this sync is stored"
                )
            if pages >= MAX_PAGES:
                raise Fatal(f"the FHIR server sent more than {MAX_PAGES} pages of {kind}; stopping")
            seen.add(url)
            bundle = await client.search_page(url, kind)
            if bundle is None:
                return  # type not offered or not granted: warned
            pages += 1
            seen.update(_links(bundle, "self"))  # the page as the server names it
            for resource in _resources(bundle, kind):
                meta = resource.get("meta") if isinstance(resource, dict) else None
                updated = meta.get("lastUpdated") if isinstance(meta, dict) else None
                try:
                    items: list[Record | Delete] = map_resource(resource)
                except FhirInvalid as err:
                    # A live server cannot be fixed by the user: keep the resource whole, say so once.
                    kept = keep_whole(resource)
                    if not warned:
                        ctx.warn(f"{kind}: {err}; such resources are kept whole in health.clinical")
                        warned = True
                    items = [kept] if kept is not None else []
                for item in items:
                    yield item, updated if isinstance(updated, str) else None
            ctx.progress(pages, None, f"{kind} page {pages}")
            url = _next_link(bundle, ctx)


def _later(updated: str, newest: str | None) -> bool:
    try:
        return newest is None or parse_datetime(updated) > parse_datetime(newest)
    except ValueError:
        return False  # an unreadable lastUpdated never moves the bookmark


def _resources(bundle: Any, kind: str) -> list[Any]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise Fatal(f"the FHIR server answered a {kind} search with something that is not a Bundle")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise Fatal(f"the FHIR server's {kind} Bundle has an entry that is not a list")
    out = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue
        if "resource" in entry:
            out.append(entry["resource"])
    return out


def _links(bundle: dict[str, Any], relation: str) -> list[str]:
    links = bundle.get("link") or []
    return [
        str(link["url"])
        for link in (links if isinstance(links, list) else [])
        if isinstance(link, dict) and link.get("relation") == relation and isinstance(link.get("url"), str)
    ]


def _next_link(bundle: dict[str, Any], ctx: Context) -> str | None:
    for url in _links(bundle, "next")[:1]:
        if _origin(url) != _origin(_base(ctx)):
            raise Fatal(f"the FHIR server's next page is on another server ({_origin(url)[1]}); refusing to follow")
        return url
    return None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _base(ctx: Context) -> str:
    return str(ctx.settings["fhir_base_url"]).rstrip("/")


async def _discover(ctx: Context) -> dict[str, str]:
    base = _base(ctx)
    resp = await ctx.http.request(
        "GET", f"{base}/.well-known/smart-configuration", headers={"Accept": "application/json"}, ok=(404,)
    )
    if resp.status != 404:
        config = resp.json()
        if isinstance(config, dict) and "authorization_endpoint" in config and "token_endpoint" in config:
            methods = config.get("code_challenge_methods_supported")
            if isinstance(methods, list) and methods and "S256" not in methods:
                raise Fatal(f"{base} does not support PKCE with S256, which selfdata requires")
            return {
                "authorization_endpoint": config["authorization_endpoint"],
                "token_endpoint": config["token_endpoint"],
            }
    # Older servers: the oauth-uris extension of the CapabilityStatement.
    statement = await ctx.http.get_json(f"{base}/metadata", headers={"Accept": FHIR_JSON})
    for rest in statement.get("rest") or [] if isinstance(statement, dict) else []:
        for ext in (rest.get("security") or {}).get("extension") or []:
            if ext.get("url") == OAUTH_URIS:
                uris = {e.get("url"): e.get("valueUri") for e in ext.get("extension") or []}
                if uris.get("authorize") and uris.get("token"):
                    return {"authorization_endpoint": uris["authorize"], "token_endpoint": uris["token"]}
    raise Fatal(f"{base} publishes no SMART configuration: is it the FHIR base URL of a SMART server?")


async def _token_request(ctx: Context, endpoint: str, form: dict[str, str]) -> dict[str, Any]:
    form = {**form, "client_id": ctx.settings["client_id"]}
    secret = ctx.secrets.get("client_secret")
    auth = None
    if secret:
        import aiohttp

        auth = aiohttp.BasicAuth(ctx.settings["client_id"], secret)
    resp = await ctx.http.request(
        "POST", endpoint, data=form, auth=auth, headers={"Accept": "application/json"}, ok=(400, 401, 403)
    )
    return oauth.token_body(resp, "the token endpoint")


def _refresher(ctx: Context) -> oauth.Refresher:
    async def refresh(tokens: oauth.TokenSet) -> oauth.TokenSet:
        endpoint = tokens.extra.get("token_endpoint") or (await _discover(ctx))["token_endpoint"]
        body = await _token_request(
            ctx, endpoint, {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token or ""}
        )
        return oauth.from_token_answer(body, ctx.now(), tokens)

    return refresh


class _Client:
    """GETs with the bearer token; a 401 refreshes the token once and tries again once."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = oauth.OAuthSession(ctx, _refresher(ctx))

    async def get(self, url: str, *, ok: tuple[int, ...] = ()) -> Response:
        token = await self.session.access_token()
        resp = await self._get(url, token, ok)
        if resp.status == 401:
            token = await self.session.refresh(token)
            resp = await self._get(url, token, ok)
            if resp.status == 401:
                raise AuthFailed(f"{_origin(url)[1]} refused a freshly refreshed token; authorize again")
        return resp

    async def _get(self, url: str, token: str, ok: tuple[int, ...]) -> Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON}
        resp = await self.ctx.http.request("GET", url, headers=headers, ok=(401, *ok))
        return resp

    async def search_page(self, url: str, kind: str) -> Any:
        resp = await self.get(url, ok=(403, 404))
        if resp.status in (403, 404):
            self.ctx.warn(f"the FHIR server refuses {kind} searches (HTTP {resp.status}{_outcome(resp)}); skipped")
            return None
        return resp.json()


def _outcome(resp: Response) -> str:
    try:
        body = json.loads(resp.body)
        issue = (body.get("issue") or [{}])[0]
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
        return f": {text}" if text else ""
    except (ValueError, AttributeError, IndexError):
        return ""

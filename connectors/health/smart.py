"""SMART on FHIR: any FHIR R4 server with patient access (hospital portals, CMS Blue Button 2.0).

- Discovery from `{base}/.well-known/smart-configuration` (else the CapabilityStatement's
  oauth-uris extension); the scopes asked are those the server advertises (`smart_server`).
- OAuth 2.0 authorization code with PKCE (S256): `authorization_url` and
  `complete_authorization`; tokens in the `token` secret, refreshed at expiry or on a 401,
  once per source at a time (`oauth.OAuthSession`).
- One search per resource type the CapabilityStatement offers and the grant covers, scoped
  to the patient, paged through `Bundle.link` `next` (a link back to a page already read
  stops the sync with a clear error; a link to another server is refused: the token is
  never sent elsewhere); incremental through `_lastUpdated`, the newest `meta.lastUpdated`
  seen per search kept in the checkpoint state. Observation is searched per category where
  the server requires it (declared, or answered with a 400). A page size over the server's
  limit is lowered; any other 4xx of a search is recorded and the other types still read.
- Resources go through `fhir_mapping`, as FHIR files do.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
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
from .smart_server import FHIR_JSON, Capabilities, capabilities, discover, granted_types, scope_for

DEFAULT_TYPES = (
    "Patient,AllergyIntolerance,Condition,Encounter,Immunization,MedicationRequest,Observation,Procedure,"
    "DiagnosticReport,Coverage,ExplanationOfBenefit"
)
# HL7's observation-category codes, which US Core servers search by.
DEFAULT_CATEGORIES = "vital-signs,laboratory,social-history,imaging,procedure,survey,exam,therapy,activity"
CATEGORY_TYPES = ("Observation",)
DEFAULT_PAGE_SIZE = 50  # Blue Button 2.0's maximum; most servers take more
MAX_PAGES = 5000
# Statuses a search answers that concern that search only (401, 408 and 429 are handled apart).
REFUSED = tuple(s for s in range(400, 500) if s not in (401, 408, 429))
AT_MOST = re.compile(r"(?:at most|maximum(?: of)?|max(?:imum)?\s*(?:is|=|:)?)\s*(\d+)", re.IGNORECASE)


@dataclass
class _Outcome:
    """How one search ended, when not with its last page."""

    refused: str | None = None  # "HTTP 400: why"
    by_category: bool = False  # the server wants it split by category


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
        Field("scope", "OAuth scopes to ask for (default: chosen from those the server advertises)", required=False),
        Field("resource_types", "Comma-separated resource types to read", required=False, default=DEFAULT_TYPES),
        Field(
            "observation_categories",
            "Observation categories searched one by one on servers that require a category",
            required=False,
            default=DEFAULT_CATEGORIES,
        ),
        Field(
            "page_size",
            "Resources per page (_count); lowered to the server's limit when it refuses more",
            type="int",
            required=False,
            default=DEFAULT_PAGE_SIZE,
        ),
    )

    # Browser authorization

    async def authorization_url(self, ctx: Context, redirect_uri: str) -> str:
        config = await discover(ctx, _base(ctx))
        scope = ctx.settings.get("scope") or scope_for(config, _types(ctx))
        verifier, challenge = oauth.pkce_pair()
        state = await oauth.save_pending(
            ctx, verifier=verifier, redirect_uri=redirect_uri, token_endpoint=config.token_endpoint
        )
        query = {
            "response_type": "code",
            "client_id": ctx.settings["client_id"],
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "aud": _base(ctx),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{config.authorization_endpoint}?{urlencode(query)}"

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
        await client.session.access_token()  # a refused authorization costs no other request
        caps = await capabilities(ctx, _base(ctx))
        since: dict[str, str] = dict(state.get("since") or {})
        by_category = set(state.get("by_category") or []) | {k for k, need in caps.needs.items() if "category" in need}
        refused: dict[str, str] = dict(state.get("refused") or {}) if state.get("pending") else {}
        sizes = {"page_size": int(state.get("page_size") or ctx.settings.get("page_size") or DEFAULT_PAGE_SIZE)}
        plan = [str(n) for n in state.get("pending") or self._plan(ctx, client, caps, by_category)]

        def checkpoint(rest: list[str]) -> Checkpoint:
            out: dict[str, Any] = {"since": since, **({"pending": rest} if rest else {})}
            if by_category:
                out["by_category"] = sorted(by_category)
            if refused:
                out["refused"] = dict(refused)
            if sizes["page_size"] != int(ctx.settings.get("page_size") or DEFAULT_PAGE_SIZE):
                out["page_size"] = sizes["page_size"]
            return Checkpoint(out)

        i = 0
        while i < len(plan):
            name, outcome = plan[i], _Outcome()
            newest = since.get(name)
            async for item, updated in self._search(ctx, client, caps, name, since.get(name), sizes, outcome):
                yield item
                if updated is not None and _later(updated, newest):
                    newest = updated
            if outcome.by_category:
                kind = name.split("?", 1)[0]
                ctx.log.info("the FHIR server wants %s searched by category; searching each category", kind)
                by_category.add(kind)
                plan[i : i + 1] = _category_searches(ctx, kind)
                continue
            if outcome.refused is not None:
                refused[name] = outcome.refused
            else:
                refused.pop(name, None)
                if newest is not None:
                    since[name] = newest
            i += 1
            yield checkpoint(plan[i:])
        if refused:
            listed = "; ".join(f"{n} ({why})" for n, why in sorted(refused.items()))
            ctx.warn(f"the FHIR server refused these searches, skipped: {listed}; the other types were read")

    def _plan(self, ctx: Context, client: _Client, caps: Capabilities, by_category: set[str]) -> list[str]:
        granted = granted_types(client.session.tokens().scope)
        plan, skipped = [], []
        for kind in _types(ctx):
            if not caps.offers(kind) or (granted is not None and kind not in granted):
                skipped.append(kind)
            elif kind in by_category:
                plan += _category_searches(ctx, kind)
            else:
                plan.append(kind)
        if skipped:
            ctx.log.info("not asked, as the FHIR server does not offer or grant them: %s", ", ".join(skipped))
        return plan

    def normalize(self, fragment: Fragment) -> list[Record]:
        """Re-map a stored Observation (its raw is the resource), as the FHIR importer does."""
        try:
            return [item for item in map_resource(fragment.raw) if isinstance(item, Record)]
        except FhirInvalid as err:
            raise InvalidRecord(str(err)) from None

    async def _search(
        self,
        ctx: Context,
        client: _Client,
        caps: Capabilities,
        name: str,
        since: str | None,
        sizes: dict[str, int],
        outcome: _Outcome,
    ) -> AsyncIterator[tuple[Record | Delete, str | None]]:
        kind, _, extra = name.partition("?")
        query: dict[str, str] = dict(p.split("=", 1) for p in extra.split("&") if "=" in p)
        patient = client.session.tokens().extra.get("patient")
        if patient:
            query[caps.patient_param(kind)] = str(patient)
        if since and caps.supports(kind, "_lastUpdated"):
            query["_lastUpdated"] = f"ge{since}"
        url: str | None = None
        seen: set[str] = set()
        pages = 0
        warned = False
        while True:
            if url is None:  # the first page, asked again with a smaller _count when refused for it
                url = f"{_base(ctx)}/{kind}?{urlencode({'_count': str(sizes['page_size']), **query})}"
            if url in seen:
                raise Fatal(
                    f"the FHIR server's paging loops: after {pages} pages of {name}, the next link points back to "
                    f"a page already read ({url}); nothing of {name} from this sync is stored"
                )
            if pages >= MAX_PAGES:
                raise Fatal(f"the FHIR server sent more than {MAX_PAGES} pages of {name}; stopping")
            seen.add(url)
            resp = await client.get(url, ok=REFUSED)
            if resp.status != 200:
                if pages == 0 and _smaller_page(resp, sizes):
                    ctx.log.info("the FHIR server takes at most %d resources a page; asking that", sizes["page_size"])
                    url, seen = None, set()
                    continue
                if pages == 0 and _wants_category(resp, kind, query):
                    outcome.by_category = True
                    return
                outcome.refused = f"HTTP {resp.status}{_outcome(resp)}"
                ctx.log.warning("the FHIR server refused %s: %s; the other types are still read", name, outcome.refused)
                return
            bundle = resp.json()
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
            ctx.progress(pages, None, f"{name} page {pages}")
            next_url = _next_link(bundle, ctx)
            if next_url is None:
                return
            url = next_url


def _types(ctx: Context) -> list[str]:
    return [t.strip() for t in str(ctx.settings.get("resource_types") or DEFAULT_TYPES).split(",") if t.strip()]


def _category_searches(ctx: Context, kind: str) -> list[str]:
    text = str(ctx.settings.get("observation_categories") or DEFAULT_CATEGORIES)
    return [f"{kind}?category={c.strip()}" for c in text.split(",") if c.strip()]


def _smaller_page(resp: Response, sizes: dict[str, int]) -> bool:
    """A 400 for the page size (Blue Button 2.0: "value must be at most 50"): lower it, once per limit."""
    if resp.status != 400:
        return False
    size, text = sizes["page_size"], resp.text
    said = AT_MOST.search(text)
    if said and 0 < int(said.group(1)) < size:
        sizes["page_size"] = int(said.group(1))
    elif "count" in text.lower() and size > 10:
        sizes["page_size"] = max(10, size // 2)
    else:
        return False
    return True


def _wants_category(resp: Response, kind: str, query: dict[str, str]) -> bool:
    """Epic answers an Observation search without category with 400, OperationOutcome code `required`."""
    if resp.status != 400 or kind not in CATEGORY_TYPES or "category" in query:
        return False
    try:
        issues = json.loads(resp.body).get("issue") or []
    except (ValueError, AttributeError):
        return "category" in resp.text.lower()
    return any(isinstance(i, dict) and i.get("code") == "required" for i in issues) or "category" in resp.text.lower()


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
        endpoint = tokens.extra.get("token_endpoint") or (await discover(ctx, _base(ctx))).token_endpoint
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


def _outcome(resp: Response) -> str:
    try:
        body = json.loads(resp.body)
        issue = (body.get("issue") or [{}])[0]
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
        return f": {text}" if text else ""
    except (ValueError, AttributeError, IndexError):
        return ""

"""What a SMART on FHIR server says it supports, read before asking it anything else.

- `.well-known/smart-configuration` (else the CapabilityStatement's oauth-uris extension):
  the endpoints, and `scopes_supported`, from which the scopes asked are chosen.
- The CapabilityStatement (`/metadata`): the resource types offered, each type's search
  parameters, and US Core's search-parameter combinations (Epic, Cerner and other US Core
  servers refuse an Observation search without `category`).

A server that publishes less is asked the usual way: nothing here is required.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.sdk import ConnectorError, Context, Fatal

DEFAULT_SCOPE = "launch/patient openid fhirUser offline_access patient/*.read"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
COMBINATION = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination"
FHIR_JSON = "application/fhir+json"
IDENTITY_SCOPES = ("launch/patient", "openid", "fhirUser", "offline_access")
# The search parameter that scopes each type to the patient, when the server does not say.
PATIENT_PARAM = {"Patient": "_id", "Coverage": "beneficiary"}


@dataclass(frozen=True)
class SmartConfig:
    authorization_endpoint: str
    token_endpoint: str
    scopes_supported: tuple[str, ...] | None = None  # None: not advertised


async def discover(ctx: Context, base: str) -> SmartConfig:
    resp = await ctx.http.request(
        "GET", f"{base}/.well-known/smart-configuration", headers={"Accept": "application/json"}, ok=(404,)
    )
    if resp.status != 404:
        config = resp.json()
        if isinstance(config, dict) and "authorization_endpoint" in config and "token_endpoint" in config:
            methods = config.get("code_challenge_methods_supported")
            if isinstance(methods, list) and methods and "S256" not in methods:
                raise Fatal(f"{base} does not support PKCE with S256, which selfdata requires")
            scopes = config.get("scopes_supported")
            return SmartConfig(
                str(config["authorization_endpoint"]),
                str(config["token_endpoint"]),
                tuple(str(s) for s in scopes) if isinstance(scopes, list) and scopes else None,
            )
    # Older servers: the oauth-uris extension of the CapabilityStatement.
    statement = await ctx.http.get_json(f"{base}/metadata", headers={"Accept": FHIR_JSON})
    for rest in statement.get("rest") or [] if isinstance(statement, dict) else []:
        for ext in (rest.get("security") or {}).get("extension") or []:
            if ext.get("url") == OAUTH_URIS:
                uris = {e.get("url"): e.get("valueUri") for e in ext.get("extension") or []}
                if uris.get("authorize") and uris.get("token"):
                    return SmartConfig(uris["authorize"], uris["token"])
    raise Fatal(f"{base} publishes no SMART configuration: is it the FHIR base URL of a SMART server?")


def scope_for(config: SmartConfig, types: list[str]) -> str:
    """The scopes to ask: the usual ones the server advertises, and read access to `types` in the
    form it advertises (Blue Button 2.0 refuses `patient/*.read` and `fhirUser` with "Invalid scopes.")."""
    if config.scopes_supported is None:
        return DEFAULT_SCOPE
    supported = set(config.scopes_supported)
    out = [s for s in IDENTITY_SCOPES if s in supported]
    resource = {s for s in supported if s.startswith("patient/")}
    if not resource:  # the list names no resource scopes (it need not be complete): ask the usual
        return " ".join([*out, "patient/*.read"])
    for wildcard in ("patient/*.read", "patient/*.rs"):
        if wildcard in resource:
            return " ".join([*out, wildcard])
    per_type = [
        next(s for s in (f"patient/{t}.read", f"patient/{t}.rs") if s in resource)
        for t in types
        if f"patient/{t}.read" in resource or f"patient/{t}.rs" in resource
    ]
    if not per_type:
        raise Fatal(
            f"the server advertises no read scope for any of {', '.join(types)}; set resource_types to types it "
            f"offers ({', '.join(sorted(resource))}) or set scope yourself"
        )
    return " ".join([*out, *per_type])


def granted_types(scope: str | None) -> set[str] | None:
    """The types a granted scope covers; None when it covers every type or does not say."""
    kinds = set()
    for s in (scope or "").split():
        if s.startswith(("patient/", "user/")):
            kind = s.split("/", 1)[1].split(".", 1)[0]
            if kind == "*":
                return None
            kinds.add(kind)
    return kinds or None


@dataclass(frozen=True)
class Capabilities:
    """The CapabilityStatement's word on searches; `params` is None where it says nothing."""

    params: dict[str, frozenset[str]] | None = None  # type -> its search parameters
    common: frozenset[str] = frozenset()  # parameters of every type (rest.searchParam)
    needs: dict[str, frozenset[str]] = field(default_factory=dict)  # type -> required in every combination

    def offers(self, kind: str) -> bool:
        return self.params is None or kind in self.params

    def supports(self, kind: str, param: str) -> bool:
        known = self.params.get(kind) if self.params is not None else None
        return not known or param in known or param in self.common

    def patient_param(self, kind: str) -> str:
        usual = PATIENT_PARAM.get(kind, "patient")
        known = self.params.get(kind) if self.params is not None else None
        if not known or usual in known:
            return usual
        return next((p for p in ("patient", "subject", "beneficiary") if p in known), usual)


async def capabilities(ctx: Context, base: str) -> Capabilities:
    try:
        resp = await ctx.http.request(
            "GET", f"{base}/metadata", headers={"Accept": FHIR_JSON}, ok=tuple(range(400, 500))
        )
        statement = resp.json() if resp.status == 200 else None
    except ConnectorError as err:
        ctx.log.info("the FHIR server's CapabilityStatement could not be read (%s); searching the usual way", err)
        return Capabilities()
    return read_statement(statement)


def read_statement(statement: Any) -> Capabilities:
    if not isinstance(statement, dict) or statement.get("resourceType") != "CapabilityStatement":
        return Capabilities()
    rests = [r for r in statement.get("rest") or [] if isinstance(r, dict) and r.get("mode", "server") == "server"]
    resources = [res for r in rests for res in r.get("resource") or [] if isinstance(res, dict)]
    if not resources:
        return Capabilities()
    params: dict[str, frozenset[str]] = {}
    needs: dict[str, frozenset[str]] = {}
    for res in resources:
        kind = str(res.get("type") or "")
        params[kind] = frozenset(_names(res.get("searchParam")))
        combos = [
            frozenset(
                str(e.get("valueString"))
                for e in ext.get("extension") or []
                if isinstance(e, dict) and e.get("url") == "required"
            )
            for ext in res.get("extension") or []
            if isinstance(ext, dict) and ext.get("url") == COMBINATION
        ]
        if combos:
            needs[kind] = frozenset.intersection(*combos)
    common = frozenset(n for r in rests for n in _names(r.get("searchParam")))
    return Capabilities(params, common, needs)


def _names(search_params: Any) -> list[str]:
    return [str(p["name"]) for p in search_params or [] if isinstance(p, dict) and isinstance(p.get("name"), str)]

"""The two MyElectricalData gateways: how each is asked and how each answers.

v1 (www.myelectricaldata.fr): the token as the whole `Authorization` header,
`/{service}/{pdl}/start/{start}/end/{end}` (end excluded; `/cache` for what the gateway
holds), `/valid_access/{pdl}` for the consent and the daily quota (50 calls, reset at the
end of the Paris day), 409 once the quota is spent. Load-curve points stamped with the END
of their interval.

v2 (www.v2.myelectricaldata.fr/api, from its public source MyElectricalData/myelectricaldata_new):
`Authorization: Bearer <token>`, `/enedis/{consumption,production}/{daily,detail}/{pdl}?start=
&end=&use_cache=` (end included, capped to yesterday), answers wrapped in `{"success": true,
"data": ...}`, errors as HTTP 200 `{"success": false, "error": {"code", "message"}}`, a daily
limit of 50 calls without the cache and 1000 with it, reset at 00:00 UTC, and load-curve
points stamped with the START of their interval.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from connectors.sdk import AuthFailed, Context, Fatal, Retryable, UserActionNeeded
from connectors.sdk.http import Response

PARIS = ZoneInfo("Europe/Paris")
V1_SITE = "https://www.myelectricaldata.fr"
V2_API = "https://www.v2.myelectricaldata.fr/api"
V1_QUOTA = 50
V2_CACHED_QUOTA = 1000


@dataclass(frozen=True)
class Quota:
    """The gateway's daily call limit as it stands: its limit, the calls it counted today, its reset."""

    limit: int
    used: int | None  # None: the gateway does not say (v2)
    day: str  # the quota day, so a count kept in the state is reset with it
    reset: datetime


class QuotaSpent(Retryable):
    """The daily quota is spent: nothing more can be read before `retry_after`."""


def _paris_midnight_after(now: datetime) -> datetime:
    day = now.astimezone(PARIS).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=PARIS)


def _naive_paris(text: Any) -> datetime | None:
    try:
        t = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=PARIS)


def _json(resp: Response) -> Any:
    try:
        return json.loads(resp.body)
    except ValueError as err:
        raise Fatal(f"MyElectricalData answered something that is not JSON: {resp.text[:80]!r}") from err


class V1:
    name = "v1"
    base = V1_SITE
    stamps = "end"
    end_included = False
    cache_counts = True  # a /cache call for days the gateway lacks asks Enedis, so it counts

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": token}

    def quota_day(self, now: datetime) -> str:
        return now.astimezone(PARIS).date().isoformat()

    async def access(self, ctx: Context, get: Any, pdl: str) -> tuple[Quota, datetime | None]:
        """The quota, and when the consent ends. A spent quota is checked before `valid`: the
        gateway answers `valid: false` then too ("Vous avez dépassé votre quota journalier")."""
        access = _json(await get(f"/valid_access/{pdl}"))
        if not isinstance(access, dict):
            raise Fatal("MyElectricalData answered an unexpected access check")
        if access.get("ban"):
            raise UserActionNeeded("MyElectricalData has suspended this token; see your account there", V1_SITE)
        now = ctx.now()
        reset = _naive_paris(access.get("quota_reset_at"))
        reset = reset if reset is not None and reset > now else _paris_midnight_after(now)
        limit = access.get("quota_limit")
        used = access.get("call_number")
        quota = Quota(
            int(limit) if isinstance(limit, int) and limit > 0 else V1_QUOTA,
            int(used) if isinstance(used, int) else None,
            self.quota_day(now),
            reset,
        )
        if access.get("quota_reached"):
            said = str(access.get("information") or "the daily quota is spent")[:120]
            raise QuotaSpent(
                f"MyElectricalData: {said}; the sync continues after the quota resets at {reset.isoformat()}",
                max(60.0, (reset - now).total_seconds()),
            )
        if access.get("valid") is False:
            raise AuthFailed(f"your consent for PDL {pdl} is no longer valid: renew it on {V1_SITE}")
        return quota, _naive_paris(access.get("consent_expiration_date"))

    def url(self, service: str, direction: str, curve: bool, pdl: str, start: date, end: date, cache: bool) -> str:
        path = f"/{service}/{pdl}/start/{start}/end/{end}"
        return path + "/cache" if cache else path

    def body(self, ctx: Context, resp: Response, quota_reset: datetime) -> Any:
        if resp.status == 404:
            return None  # no data for that window (before the contract, collection off)
        if resp.status == 409:
            raise QuotaSpent(
                "the MyElectricalData daily quota is spent; the sync resumes after it resets",
                max(60.0, (quota_reset - ctx.now()).total_seconds()),
            )
        return _json(resp)


class V2:
    name = "v2"
    base = V2_API
    stamps = "start"
    end_included = True
    cache_counts = False  # its cached calls have a limit of their own (1000)

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def quota_day(self, now: datetime) -> str:
        return now.astimezone(UTC).date().isoformat()

    def _reset(self, now: datetime) -> datetime:
        day = now.astimezone(UTC).date() + timedelta(days=1)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)

    async def access(self, ctx: Context, get: Any, pdl: str) -> tuple[Quota, datetime | None]:
        """v2 has no access check: the account's PDL list says whether this one is linked."""
        answer = _json(await get("/pdl"))
        points = answer.get("data") if isinstance(answer, dict) and answer.get("success") else None
        if not isinstance(points, list):
            raise Fatal("the MyElectricalData v2 gateway answered an unexpected PDL list")
        if not any(isinstance(p, dict) and p.get("usage_point_id") == pdl and p.get("is_active", True) for p in points):
            raise AuthFailed(
                f"PDL {pdl} is not linked to this MyElectricalData v2 account: give Enedis your consent on "
                f"{V2_API.removesuffix('/api')} and check the PDL"
            )
        now = ctx.now()
        return Quota(V1_QUOTA, None, self.quota_day(now), self._reset(now)), None

    def url(self, service: str, direction: str, curve: bool, pdl: str, start: date, end: date, cache: bool) -> str:
        query = urlencode({"start": str(start), "end": str(end), "use_cache": "true" if cache else "false"})
        return f"/enedis/{direction}/{'detail' if curve else 'daily'}/{pdl}?{query}"

    def body(self, ctx: Context, resp: Response, quota_reset: datetime) -> Any:
        answer = _json(resp)
        if not isinstance(answer, dict):
            raise Fatal("the MyElectricalData v2 gateway answered JSON that is not an object")
        if answer.get("success"):
            return answer.get("data")
        raw = answer.get("error")
        error: dict[str, Any] = raw if isinstance(raw, dict) else {}
        code, message = str(error.get("code") or "unknown"), str(error.get("message") or "")[:160]
        if code in ("NO_DATA", "DATE_TOO_OLD", "ADAM-ERR0123"):
            return None  # nothing there: before the meter, past what Enedis keeps
        if code == "RATE_LIMIT_EXCEEDED":
            raise QuotaSpent(
                f"the MyElectricalData v2 daily limit is spent ({message}); the sync resumes after 00:00 UTC",
                max(60.0, (self._reset(ctx.now()) - ctx.now()).total_seconds()),
            )
        if code == "ACCESS_DENIED":
            raise AuthFailed(f"MyElectricalData v2 refused the PDL: {message}")
        if code in ("ENEDIS_UNAVAILABLE", "ENEDIS_ERROR"):
            raise Retryable(f"MyElectricalData v2: Enedis is unavailable ({message})", 1800)
        raise Fatal(f"MyElectricalData v2 answered {code}: {message}")


Gateway = V1 | V2


def gateway(name: str) -> Gateway:
    return V2() if name == "v2" else V1()

"""`selfdata requests` (ask organisations for your data), `selfdata share` (a signed, minimal
extract for a recipient) and `selfdata verify` (check one)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..operations import vrm as ops
from ..operations.registry import NoParams
from ..vrm import letters
from ..vrm.presets import PRESETS, extract, months_ago
from . import render
from .base import cli, invoke, session


@cli.group()
def requests() -> None:
    """Ask organisations for your data (GDPR access, portability, rectification, erasure) and track the deadline."""


@requests.command("orgs")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def requests_orgs(ctx: click.Context, as_json: bool) -> None:
    """The directory of organisations with their published privacy contacts (and where each is published)."""
    orgs = invoke(ctx, ops.orgs, NoParams())
    if as_json:
        render.print_json(orgs)
        return
    render.table(
        None,
        ["id", "organisation", "country", "contact", "published at"],
        [(o["id"], o["name"], o["country"], o["email"] or o["postal"] or o["web"], o["cited"]) for o in orgs],
    )


@requests.command("new")
@click.option("--kind", type=click.Choice(letters.KINDS), required=True, help="What you ask for.")
@click.option("--org", help="An organisation's id from `selfdata requests orgs`.")
@click.option("--to", "to", help="Or any organisation, by name (with --email or --postal).")
@click.option("--email", help="The organisation's privacy contact e-mail (with --to).")
@click.option("--postal", help="The organisation's postal address (with --to).")
@click.option(
    "--lang", type=click.Choice(letters.LANGS), default="en", show_default=True, help="The letter's language."
)
@click.option("--zone", default=None, help="Your time zone (days count in it); the machine's by default.")
@click.option(
    "--folder", help="The inbox sub-folder (and source) the answer goes in; the organisation's id by default."
)
@click.option("--name", help="Your name, as the organisation knows you.")
@click.option("--address", help="Your address, as the organisation knows it.")
@click.option("--my-email", "my_email", help="Your e-mail, as the organisation knows it.")
@click.option("--reference", help="Your customer or account reference.")
@click.option("--what", help="Rectification: what is wrong and what it should say. Erasure: which data.")
@click.option("--grounds", help="Erasure: your grounds (Article 17(1)); a default is written otherwise.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def requests_new(ctx: click.Context, kind: str, org: str | None, to: str | None, email: str | None,
                 postal: str | None, lang: str, zone: str | None, folder: str | None, name: str | None,
                 address: str | None, my_email: str | None, reference: str | None, what: str | None,
                 grounds: str | None, as_json: bool) -> None:  # fmt: skip
    """Write the letter for a request; send it yourself, then run `selfdata requests sent ID`."""
    details = {
        k: v
        for k, v in (
            ("name", name), ("address", address), ("email", my_email), ("reference", reference), ("what", what),
            ("grounds", grounds),
        )
        if v
    }  # fmt: skip
    params = ops.NewRequest(kind, org, to, email, postal, lang, zone or _zone(), folder, details)
    req = invoke(ctx, ops.request_new, params)
    if as_json:
        render.print_json(req)
        return
    _letter(req)
    click.echo(
        f"\nRequest {req['id']} drafted. Send it, then: selfdata requests sent {req['id']}. When the answer"
        f" comes, drop its file in the inbox folder {req['folder']}/ to import it.",
        err=True,
    )


def _zone() -> str:
    local = datetime.now().astimezone().tzinfo
    key = getattr(local, "key", None)
    if key:
        return str(key)
    try:
        return Path("/etc/timezone").read_text().strip() or "UTC"
    except OSError:
        target = Path("/etc/localtime").resolve()
        return "/".join(target.parts[-2:]) if "zoneinfo" in target.parts else "UTC"


def _letter(req: dict[str, Any]) -> None:
    click.echo(req["letter"]["text"])


@requests.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def requests_list(ctx: click.Context, as_json: bool) -> None:
    """Every request with its status, deadline and answer."""
    items = invoke(ctx, ops.request_list, NoParams())
    if as_json:
        render.print_json(items)
        return
    if not items:
        click.echo("No requests yet: selfdata requests new --org ID --kind access")
        return
    rows = []
    for r in items:
        answer = r["answer"]
        came = f"{answer['records']:,} records in {answer['source']}" if answer else ""
        rows.append(
            (
                r["id"], r["org_name"], f"{r['kind']} (art. {r['article']})", r["status"],
                render.local(r["sent_at"], "date"), r["deadline"] or "", r["folder"] + "/", came,
            )
        )  # fmt: skip
    render.table(None, ["id", "organisation", "request", "status", "sent", "deadline", "inbox folder", "answer"], rows)


@requests.command("show")
@click.argument("request_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def requests_show(ctx: click.Context, request_id: int, as_json: bool) -> None:
    """A request's letter, to send again or to copy into a web form."""
    req = invoke(ctx, ops.request_show, ops.RequestId(request_id))
    if as_json:
        render.print_json(req)
        return
    _letter(req)
    click.echo(f"\nStatus: {req['status']}" + (f"; deadline {req['deadline']}" if req["deadline"] else ""), err=True)


@requests.command("sent")
@click.argument("request_id", type=int)
@click.option("--at", help="When you sent it (ISO 8601 with offset); now by default.")
@click.pass_context
def requests_sent(ctx: click.Context, request_id: int, at: str | None) -> None:
    """Record that you sent the request: its one-month deadline runs from then."""
    req = invoke(ctx, ops.request_sent, ops.Sent(request_id, at))
    click.echo(
        f"Request {req['id']} to {req['org_name']}: sent; the answer is due by {req['deadline']} (GDPR art. 12(3))."
    )


@requests.command("extended")
@click.argument("request_id", type=int)
@click.pass_context
def requests_extended(ctx: click.Context, request_id: int) -> None:
    """The organisation told you it takes two more months (art. 12(3)): move the deadline."""
    req = invoke(ctx, ops.request_extend, ops.RequestId(request_id))
    click.echo(f"Request {req['id']} to {req['org_name']}: now due by {req['deadline']}.")


@requests.command("close")
@click.argument("request_id", type=int)
@click.pass_context
def requests_close(ctx: click.Context, request_id: int) -> None:
    """Stop tracking a request (withdrawn, or answered some other way)."""
    req = invoke(ctx, ops.request_close, ops.RequestId(request_id))
    click.echo(f"Request {req['id']} to {req['org_name']}: {req['status']}.")


@requests.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def requests_check(ctx: click.Context, as_json: bool) -> None:
    """Link answers and remind of passed deadlines now (the daemon does it hourly)."""
    result = invoke(ctx, ops.requests_check, ops.Check())
    if as_json:
        render.print_json(result)
        return
    click.echo(f"{len(result['answered'])} answered, {len(result['reminded'])} reminded.")


# Disclosures


def _extracts(presets: tuple[str, ...], raw: tuple[str, ...], months: int | None, zone: str) -> list[dict[str, Any]]:
    out = [extract(name, months, zone) for name in presets]
    for text in raw:
        try:
            item = json.loads(text)
        except json.JSONDecodeError as err:
            raise click.BadParameter(f"not JSON: {err}", param_hint="--extract") from None
        if not isinstance(item, dict):
            raise click.BadParameter("an extract is a JSON object", param_hint="--extract")
        months_of = item.pop("months", None) or months
        if months_of and "start" not in item:
            item["start"], item["end"] = months_ago(int(months_of), item.get("zone", zone))
        item.setdefault("zone", zone)
        out.append(item)
    if not out:
        raise click.UsageError(f"choose what to share: --preset ({', '.join(PRESETS)}) or --extract JSON")
    return out


def _share_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option("--to", "recipient", required=True, help="Who it is for (a landlord, a supplier...)."),
            click.option("--purpose", required=True, help="What they need it for."),
            click.option(
                "--preset", "presets", multiple=True, type=click.Choice(sorted(PRESETS)), help="A ready extract."
            ),
            click.option(
                "--extract", "raw", multiple=True, help='An aggregate as JSON: {"label", "dataset", "fn", ...}.'
            ),
            click.option("--months", type=click.IntRange(1, 120), help="Over the last N whole months."),
            click.option("--zone", help="The time zone months are counted in; the machine's by default."),
            click.option(
                "--days", type=click.IntRange(1, 366), default=30, show_default=True, help="Valid for N days."
            ),
            click.option("--name", help="Your name, if the recipient needs it stated (not included otherwise)."),
        ]
    ):
        f = option(f)
    return f


def _share_params(recipient: str, purpose: str, presets: tuple[str, ...], raw: tuple[str, ...], months: int | None,
                  zone: str | None, days: int, name: str | None) -> ops.Share:  # fmt: skip
    extracts = _extracts(presets, raw, months, zone or _zone())
    return ops.Share(recipient, purpose, tuple(extracts), days, name)


@cli.group()
def share() -> None:
    """Give a recipient a signed extract of aggregates, and nothing else; list what you gave."""


@share.command("preview")
@_share_options
@click.pass_context
def share_preview(ctx: click.Context, /, **kw: Any) -> None:
    """Print exactly what a disclosure would hold (unsigned; nothing is given or logged)."""
    shown = invoke(ctx, ops.share_preview, _share_params(**kw))
    render.print_json(shown["document"])


@share.command("create")
@_share_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write it here (.json).")
@click.option("--qr", type=click.Path(dir_okay=False, path_type=Path), help="Also a QR code of it, as SVG.")
@click.option("--yes", is_flag=True, help="Do not ask: sign what the preview shows.")
@click.pass_context
def share_create(ctx: click.Context, /, output: Path | None, qr: Path | None, yes: bool, **kw: Any) -> None:
    """Show the disclosure, then sign it, log it and write it (stdout by default)."""
    params = _share_params(**kw)
    shown = invoke(ctx, ops.share_preview, params)
    click.echo("This is everything the recipient will get, signed:", err=True)
    click.echo(json.dumps(shown["document"], indent=2, ensure_ascii=False), err=True)
    if not yes and not click.confirm("Sign and give exactly this?", default=False, err=True):
        raise click.Abort()
    from dataclasses import replace

    package = invoke(
        ctx, ops.share_issue, replace(params, id=shown["id"], issued_ms=shown["issued_ms"], digest=shown["digest"])
    )
    text = json.dumps(package, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}; the recipient checks it with: selfdata verify {output.name}", err=True)
    if qr is not None:
        _qr(package, qr)


def _qr(package: dict[str, Any], path: Path) -> None:
    from ..vrm.qr import QrTooLarge, svg

    try:
        path.write_text(svg(package), encoding="utf-8")
    except QrTooLarge as err:  # the disclosure itself is given and logged: only the QR code is missing
        click.secho(f"warning: no QR code: {err}", fg="yellow", err=True)
        return
    click.echo(f"Wrote the QR code {path}", err=True)


@share.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def share_list(ctx: click.Context, as_json: bool) -> None:
    """Every disclosure you signed: when, to whom, why, what, until when."""
    items = invoke(ctx, ops.disclosure_log, NoParams())
    if as_json:
        render.print_json(items)
        return
    if not items:
        click.echo("No disclosures yet: selfdata share create --to ... --purpose ... --preset ...")
        return
    render.table(
        None,
        ["when", "to", "purpose", "what", "valid until", "id"],
        [
            (render.local(d["at"]), d["recipient"], d["purpose"], "; ".join(x["label"] for x in d["extracts"]),
             render.local(d["valid_until"], "date"), d["id"])
            for d in items
        ],
    )  # fmt: skip


@share.command("show")
@click.argument("disclosure_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write it here.")
@click.option("--qr", type=click.Path(dir_okay=False, path_type=Path), help="Also a QR code of it, as SVG.")
@click.pass_context
def share_show(ctx: click.Context, disclosure_id: str, output: Path | None, qr: Path | None) -> None:
    """A disclosure you signed, again, exactly as given."""
    package = invoke(ctx, ops.disclosure_package, ops.DisclosureId(disclosure_id))
    text = json.dumps(package, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    if qr is not None:
        _qr(package, qr)


@share.command("keys")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def share_keys(ctx: click.Context, as_json: bool) -> None:
    """The signing keys (public halves): the active one and those revoked."""
    items = invoke(ctx, ops.keys_list, NoParams())
    if as_json:
        render.print_json(items)
        return
    render.table(
        None,
        ["key", "status", "created", "revoked", "reason"],
        [(k["did"], k["status"], render.local(k["created_at"]), render.local(k["revoked_at"]), k["reason"] or "")
         for k in items],
    )  # fmt: skip


@share.command("new-key")
@click.pass_context
def share_new_key(ctx: click.Context) -> None:
    """Sign from now on with a new key; the one before is retired (what it signed reports revoked)."""
    key = invoke(ctx, ops.key_new, NoParams())
    click.echo(f"New signing key {key['did']}")


@share.command("revoke-key")
@click.argument("key_id")
@click.option("--reason", default="revoked", show_default=True, help="Why (shown by verify).")
@click.pass_context
def share_revoke_key(ctx: click.Context, key_id: str, reason: str) -> None:
    """Revoke a signing key (its id or did:key): verify reports what it signed as revoked."""
    key = invoke(ctx, ops.key_revoke, ops.Revoke(key_id.removeprefix("did:key:"), reason))
    click.echo(f"Revoked {key['did']} ({key['reason']}).")


@cli.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--at", help="Check as of this time (ISO 8601 with offset) instead of now.")
@click.option("--offline", is_flag=True, help="Do not ask this machine's vault whether the key was revoked.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def verify_cmd(ctx: click.Context, file: Path, at: str | None, offline: bool, as_json: bool) -> None:
    """Check a signed disclosure: unchanged since signed, within its dates, key not revoked. Exit 1 if not."""
    from ..times import now_ms, parse_instant
    from ..vrm import verify as checks

    s = session(ctx)
    if not offline and s.paths.keyslots_file.exists():
        report = invoke(ctx, ops.verify_document, ops.Verify(str(file.absolute()), at), upload=file)
    else:
        report = checks.verify(checks.parse(checks.read(file)), parse_instant(at) if at else now_ms())
    if as_json:
        render.print_json(report)
    else:
        _report(file, report)
    if not report["valid"]:
        ctx.exit(1)


def _report(file: Path, report: dict[str, Any]) -> None:
    good = report["valid"]
    click.secho(f"{file.name}: {report['status'].replace('_', ' ').upper()}", fg="green" if good else "red", bold=True)
    if report["signed"]:
        click.echo(f"Signed by {report['key']} and unchanged since.")
    for problem in report["problems"]:
        click.echo(f"- {problem}")
    if report.get("key_known") is False:
        click.echo("This machine's vault did not issue it: whether its key was revoked is for its issuer to say.")
    click.echo(f"For: {report['recipient']}; purpose: {report['purpose']}")
    click.echo(f"Valid from {report['valid_from']} until {report['valid_until']}")
    for label in report["extracts"]:
        click.echo(f"  {label}")

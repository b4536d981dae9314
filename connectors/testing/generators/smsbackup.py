"""Files like the Android app "SMS Backup & Restore" writes: calls-*.xml and sms-*.xml.

Message and call number i is the same in every file written with the same seed, so a later
backup (a larger `count`) contains an earlier one, as the app's successive backups do.

    write_sms(folder / "sms-20260601120000.xml", count=300)
    write_calls(folder / "calls-20260601120000.xml", count=200)
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

START = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
OWN = "+33600000001"
CONTACTS = (
    ("Marie Martin", "+33612345678"),
    ("Papa", "06 23 45 67 89"),
    ("Lucas Bernard", "0634567890"),
    ("Cabinet médical", "01 42 68 53 00"),
    ("Sam (US)", "+1 202-555-0143"),
    ("Anna Schmidt", "+49 (0)30 12345678"),
)
SENDERS = (("", "36179"), ("", "AMAZON"), ("", "+33 7 81 23 45 67"), ("", "(33) 612-345-679"))
BODIES = (
    "On se retrouve à 19h ?",
    'Il a dit "oui" & on part demain <3',
    "Ligne 1\nLigne 2\n\tfin",
    "Votre code de confirmation est 482913",
    "Bonne année 🎉🥂",
    "ok",
    "Ça marche, à tout à l'heure 😀",
)
# Android call types: 1 incoming, 2 outgoing, 3 missed, 4 voicemail, 5 rejected, 6 blocked,
# 7 answered elsewhere.
CALL_TYPES = (1, 2, 3, 1, 2, 4, 1, 5, 2, 6, 3, 7)
# SMS types: 1 received, 2 sent, 3 draft, 4 outbox, 5 failed, 6 queued.
SMS_TYPES = (1, 2, 1, 2, 1, 2, 1, 3, 4, 5, 6, 1, 2)


def escape(text: str, surrogates: bool = False) -> str:
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    out = out.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    if surrogates:  # what older versions of the app wrote for emoji: UTF-16 halves as references
        out = "".join(_surrogate_refs(ch) if ord(ch) > 0xFFFF else ch for ch in out)
    return out


def _surrogate_refs(ch: str) -> str:
    code = ord(ch) - 0x10000
    return f"&#{0xD800 + (code >> 10)};&#{0xDC00 + (code & 0x3FF)};"


def _attrs(values: dict[str, str], surrogates: bool = False) -> str:
    return " ".join(f'{k}="{escape(v, surrogates)}"' for k, v in values.items())


def _readable(at: datetime) -> str:
    return f"{at:%b} {at.day}, {at:%Y %I:%M:%S %p}"


def _when(seed: int, i: int, step: timedelta) -> tuple[random.Random, datetime]:
    rng = random.Random(f"{seed}:{i}")
    at = START + step * i + timedelta(seconds=rng.randint(0, int(step.total_seconds() * 0.8)))
    return rng, at.replace(microsecond=rng.randint(0, 999) * 1000)


def _ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def _header(f: TextIO, root: str, count: int, backup_at: datetime) -> None:
    f.write("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n")
    f.write(f"<!--File Created By SMS Backup & Restore v10.22.001 on {backup_at:%d/%m/%Y %H:%M:%S}-->\n")
    f.write(f'<?xml-stylesheet type="text/xsl" href="{root[:-2] if root == "smses" else root}.xsl"?>\n')
    f.write(f'<{root} count="{count}" backup_set="6f1c3a52-1b7e-4d55-9d0b-57f3e6a1c0d2" ')
    f.write(f'backup_date="{_ms(backup_at)}" type="full">\n')


def call_element(seed: int, i: int, step: timedelta = timedelta(hours=7)) -> str:
    rng, at = _when(seed, i, step)
    kind = CALL_TYPES[i % len(CALL_TYPES)]
    name, number = rng.choice(CONTACTS) if rng.random() < 0.7 else ("(Unknown)", f"07{rng.randint(10**7, 10**8 - 1)}")
    presentation = "1"
    if kind in (1, 3, 6) and rng.random() < 0.12:
        name, number, presentation = "(Unknown)", rng.choice(("", "-2", "-1")), "2"
    duration = rng.randint(5, 1800) if kind in (1, 2, 7) else 0
    values = {
        "number": number,
        "duration": str(duration),
        "date": _ms(at),
        "type": str(kind),
        "presentation": presentation,
        "subscription_id": "1",
        "post_dial_digits": "",
        "subscription_component_name": "com.android.phone/com.android.services.telephony.TelephonyConnectionService",
        "readable_date": _readable(at),
        "contact_name": name,
    }
    return f"  <call {_attrs(values)} />\n"


def sms_element(seed: int, i: int, step: timedelta, surrogates: bool) -> str:
    rng, at = _when(seed, i, step)
    kind = SMS_TYPES[i % len(SMS_TYPES)]
    roll = rng.random()
    if roll < 0.6:
        name, address = rng.choice(CONTACTS)
    elif roll < 0.9:  # the long tail of numbers a phone sees
        name, address = "", f"+336{rng.randint(0, 2999):04d}{4817 + seed:04d}"
    else:
        name, address = rng.choice(SENDERS)
    body = rng.choice(BODIES) + ("" if rng.random() < 0.7 else f" #{i}")
    values = {
        "protocol": "0",
        "address": address,
        "date": _ms(at),
        "type": str(kind),
        "subject": "null",
        "body": body,
        "toa": "null",
        "sc_toa": "null",
        "service_center": "+33609001390" if kind == 1 else "null",
        "read": "1",
        "status": "-1",
        "locked": "0",
        "date_sent": _ms(at - timedelta(seconds=3)) if kind == 1 else "0",
        "sub_id": "1",
        "readable_date": _readable(at),
        "contact_name": name or "(Unknown)",
    }
    return f"  <sms {_attrs(values, surrogates and i % 2 == 0)} />\n"


def _parts(rng: random.Random, text: str, image: bool) -> Iterator[str]:
    smil = '<smil><head><layout><root-layout/><region id="Text" top="0" left="0" height="100%" width="100%"/>'
    smil += '</layout></head><body><par dur="5000ms"><text src="text_0.txt" region="Text" /></par></body></smil>'
    yield (
        f'      <part seq="-1" ct="application/smil" name="null" chset="null" cd="null" fn="null" cid="&lt;smil&gt;" '
        f'cl="smil.xml" ctt_s="null" ctt_t="null" text="{escape(smil)}" />\n'
    )
    if image:
        data = base64.b64encode(rng.randbytes(rng.randint(1500, 6000))).decode()
        yield (
            f'      <part seq="0" ct="image/jpeg" name="IMG_{rng.randint(1000, 9999)}.jpg" chset="null" cd="null" '
            f'fn="null" cid="&lt;image0&gt;" cl="image0.jpg" ctt_s="null" ctt_t="null" text="null" data="{data}" />\n'
        )
    if text:
        yield (
            '      <part seq="0" ct="text/plain" name="null" chset="106" cd="null" fn="null" cid="&lt;text_0&gt;" '
            f'cl="text_0.txt" ctt_s="null" ctt_t="null" text="{escape(text)}" />\n'
        )
    if rng.random() < 0.1:
        card = "BEGIN:VCARD\nVERSION:3.0\nFN:Marie Martin\nTEL:+33612345678\nEND:VCARD\n"
        yield (
            '      <part seq="0" ct="text/x-vCard" name="Marie.vcf" chset="106" cd="null" fn="null" '
            f'cid="&lt;vcard&gt;" cl="Marie.vcf" ctt_s="null" ctt_t="null" text="{escape(card)}" />\n'
        )


def mms_element(seed: int, i: int, step: timedelta) -> str:
    rng, at = _when(seed, i, step)
    box = (1, 2, 1, 2, 4)[i % 5]
    people = rng.sample(CONTACTS, 2 if rng.random() < 0.3 else 1)
    incoming = box == 1
    addrs = [(people[0][1], "137")] if incoming else [("insert-address-token", "137")]
    addrs += [(OWN, "151")] if incoming else [(p[1], "151") for p in people]
    addrs += [(p[1], "151") for p in people[1:]] if incoming else []
    text = rng.choice(BODIES) if rng.random() < 0.8 else ""
    values = {
        "date": _ms(at),
        "rr": "129",
        "sub": "null",
        "ct_t": "application/vnd.wap.multipart.related",
        "read_status": "null",
        "seen": "1",
        "msg_box": str(box),
        "address": "~".join(p[1] for p in people),
        "sub_cs": "null",
        "resp_st": "null" if incoming else "128",
        "retr_st": "null",
        "d_tm": "null",
        "text_only": "0" if rng.random() < 0.6 else "1",
        "exp": "604800" if incoming else "null",
        "locked": "0",
        "m_id": f"mavodi-{seed}-{i}" if incoming else "null",
        "st": "null",
        "retr_txt_cs": "null",
        "retr_txt": "null",
        "creator": "com.google.android.apps.messaging",
        "date_sent": "0",
        "read": "1",
        "m_size": str(rng.randint(1000, 90000)),
        "rpt_a": "null",
        "ct_cls": "null",
        "pri": "129",
        "sub_id": "1",
        "tr_id": f"T{seed:x}{i:08x}",
        "resp_txt": "null",
        "ct_l": "null",
        "m_cls": "personal",
        "d_rpt": "128",
        "v": "18",
        "_id": str(1000 + i),
        "m_type": "132" if incoming else "128",
        "readable_date": _readable(at),
        "contact_name": ", ".join(p[0] for p in people),
    }
    parts = "".join(_parts(rng, text, values["text_only"] == "0"))
    addr = "".join(f'      <addr address="{escape(a)}" type="{t}" charset="106" />\n' for a, t in addrs)
    return f"  <mms {_attrs(values)}>\n    <parts>\n{parts}    </parts>\n    <addrs>\n{addr}    </addrs>\n  </mms>\n"


def huge_mms(f: TextIO, seed: int, i: int, step: timedelta, size: int) -> None:
    """An MMS with a video part of `size` bytes, written without holding it in memory."""
    rng, at = _when(seed, i, step)
    f.write(f'  <mms date="{_ms(at)}" msg_box="1" address="+33612345678" m_id="huge-{seed}-{i}" ')
    f.write('ct_t="application/vnd.wap.multipart.related" sub="null" contact_name="Marie Martin" ')
    f.write(f'readable_date="{_readable(at)}">\n    <parts>\n')
    f.write('      <part seq="0" ct="text/plain" name="null" chset="106" cl="text_0.txt" text="La vidéo !" />\n')
    f.write('      <part seq="0" ct="video/mp4" name="VID_0001.mp4" chset="null" cl="VID_0001.mp4" text="null" data="')
    block = rng.randbytes(3 * 16384)
    written = 0
    while written < size:
        chunk = block[: min(len(block), size - written)]
        f.write(base64.b64encode(chunk).decode())
        written += len(chunk)
    f.write('" />\n    </parts>\n    <addrs>\n      <addr address="+33612345678" type="137" charset="106" />\n')
    f.write(f'      <addr address="{OWN}" type="151" charset="106" />\n    </addrs>\n  </mms>\n')


def write_sms(
    path: Path,
    *,
    seed: int = 1,
    count: int = 300,
    step: timedelta = timedelta(hours=5),
    mms_every: int = 7,
    surrogates: bool = True,
    huge_part_bytes: int = 0,
) -> Path:
    """An sms-*.xml backup of `count` messages (every `mms_every`-th an MMS)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        _header(f, "smses", count, START + step * count)
        for i in range(count):
            if huge_part_bytes and i == count // 2:
                huge_mms(f, seed, i, step, huge_part_bytes)
            elif mms_every and i % mms_every == mms_every - 1:
                f.write(mms_element(seed, i, step))
            else:
                f.write(sms_element(seed, i, step, surrogates))
        f.write("</smses>\n")
    return path


def write_calls(path: Path, *, seed: int = 1, count: int = 200, step: timedelta = timedelta(hours=7)) -> Path:
    """A calls-*.xml backup of `count` calls covering every call type."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        _header(f, "calls", count, START + step * count)
        for i in range(count):
            f.write(call_element(seed, i, step))
        f.write("</calls>\n")
    return path

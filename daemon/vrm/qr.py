"""A QR code of a signed disclosure (segno: pure Python), holding its canonical JSON whole.

The canonical form is the shortest JSON of it, and `selfdata verify` reads it back the same:
a recipient scans the code, saves the text, and checks it. A disclosure larger than one QR
code holds (2,953 bytes at the lowest error correction) is refused with a message: give the
JSON file instead.
"""

from __future__ import annotations

import io
from typing import Any

from ..errors import SelfdataError
from .canonical import canonical


class QrTooLarge(SelfdataError):
    pass


def svg(package: dict[str, Any]) -> str:
    import segno

    data = canonical(package)
    try:
        code = segno.make(data, error="l", micro=False, boost_error=False)
    except segno.DataOverflowError:
        raise QrTooLarge(
            f"this disclosure is {len(data):,} bytes, more than one QR code holds (2,953): give the JSON file,"
            " or share fewer rows (a longer bucket, a shorter span)"
        ) from None
    out = io.BytesIO()
    code.save(out, kind="svg", scale=4, border=4, xmldecl=False, title="selfdata disclosure")
    return out.getvalue().decode("utf-8")

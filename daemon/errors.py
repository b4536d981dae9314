"""The one base of errors a user can fix: shown as one line (`error: ...`), never a traceback.

Every such error in the daemon and the SDK derives from `SelfdataError`, defined in the SDK
because the daemon imports the SDK and never the reverse. Anything else that escapes an
operation is a fault of selfdata or of a connector: it is logged with its traceback.
"""

from __future__ import annotations

from connectors.sdk.errors import SelfdataError

__all__ = ["SelfdataError"]

"""What can go wrong with the vault; each message says what to do."""

from ..errors import SelfdataError


class VaultError(SelfdataError):
    """Base class of vault errors."""


class VaultNotFound(VaultError):
    pass


class VaultExists(VaultError):
    pass


class UnlockFailed(VaultError):
    """No key we were given opens any slot."""


class SlotDamaged(UnlockFailed):
    """The slot that would open the vault is damaged: a wrong key is not the trouble."""


class VaultCorrupt(VaultError):
    """The vault or its key slots are damaged; never answer with wrong data."""


class VaultDamaged(VaultCorrupt):
    """Pages of the vault's database cannot be read: nothing more is written to it; what is readable can be saved."""


class SlotError(VaultError):
    """A key slot operation is not allowed (e.g. removing the last slot)."""

"""The user's rights: take everything anywhere (export), erase anything (erase)."""

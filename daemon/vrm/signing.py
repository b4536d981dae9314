"""The vault's signing keys and Data Integrity proofs (cryptosuite eddsa-jcs-2022).

A key is an Ed25519 key pair made by pynacl; its 32-byte seed is kept in the vault's
`vrm_keys` table encrypted again under the secrets key (like connector credentials), and
never leaves the vault. Its public half is named as a `did:key` (multicodec ed25519-pub,
base58btc), so a recipient needs nothing but the disclosure to check its signature.

The proof follows the W3C recommendation "Data Integrity EdDSA Cryptosuites v1.0",
eddsa-jcs-2022: SHA-256 of the canonical (RFC 8785) proof options, then SHA-256 of the
canonical document without its proof, signed together with Ed25519; proofValue is "z"
and the signature in base58btc.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.secret
import nacl.signing

from ..errors import SelfdataError
from ..times import iso, now_ms
from ..vault import Vault
from ..vault.errors import VaultCorrupt
from .canonical import b58decode, b58encode, canonical

ED25519_PUB = b"\xed\x01"  # multicodec prefix of an Ed25519 public key
CRYPTOSUITE = "eddsa-jcs-2022"
PROOF_TYPE = "DataIntegrityProof"


class KeyError_(SelfdataError):
    """A signing key that is missing, unknown or revoked; the message says which."""


class BadProof(SelfdataError, ValueError):
    """A proof that cannot be checked: the message names the part."""


def stamp(ms: int) -> str:
    """A time as VC dates are usually written: UTC to the second, `2026-01-31T07:00:00Z`."""
    return iso(ms - ms % 1000)[:19] + "Z"


def multikey(public: bytes) -> str:
    return "z" + b58encode(ED25519_PUB + public)


def public_of(multibase: str) -> bytes:
    if not multibase.startswith("z"):
        raise BadProof(f"{multibase[:20]!r} is not a base58btc multibase key (it starts with 'z')")
    try:
        raw = b58decode(multibase[1:])
    except ValueError as err:
        raise BadProof(f"the key {multibase[:20]}...: {err}") from None
    if raw[:2] != ED25519_PUB or len(raw) != 34:
        raise BadProof(f"the key {multibase[:20]}... is not an Ed25519 public key")
    return raw[2:]


def did_key(public: bytes) -> str:
    return f"did:key:{multikey(public)}"


def method_of(public: bytes) -> str:
    key = multikey(public)
    return f"did:key:{key}#{key}"


def key_of_method(method: str) -> str:
    """The multibase key a did:key verification method names."""
    did, _, fragment = method.partition("#")
    if not did.startswith("did:key:z"):
        raise BadProof(f"the verification method {method[:60]!r} is not a did:key: selfdata checks did:key only")
    key = did.removeprefix("did:key:")
    if fragment and fragment != key:
        raise BadProof("the verification method's fragment names another key than its did:key")
    return key


def hash_data(document: dict[str, Any], options: dict[str, Any]) -> bytes:
    """What eddsa-jcs-2022 signs: SHA-256(canonical options) || SHA-256(canonical document)."""
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    config = {k: v for k, v in options.items() if k != "proofValue"}
    return hashlib.sha256(canonical(config)).digest() + hashlib.sha256(canonical(unsecured)).digest()


def sign(document: dict[str, Any], key: nacl.signing.SigningKey, created_ms: int) -> dict[str, Any]:
    """`document` with a proof by `key`."""
    options: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": stamp(created_ms),
        "verificationMethod": method_of(bytes(key.verify_key)),
        "proofPurpose": "assertionMethod",
    }
    if "@context" in document:
        options["@context"] = document["@context"]
    signature = key.sign(hash_data(document, options)).signature
    return {**document, "proof": {**options, "proofValue": "z" + b58encode(signature)}}


def check(document: dict[str, Any]) -> str:
    """The multibase key whose signature `document` carries; BadProof if it carries none that holds."""
    proof = document.get("proof")
    if not isinstance(proof, dict):
        raise BadProof("the document has no proof")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        raise BadProof(f"the proof is not a {PROOF_TYPE} of {CRYPTOSUITE}")
    if proof.get("proofPurpose") != "assertionMethod":
        raise BadProof("the proof's purpose is not assertionMethod")
    if "@context" in proof and proof["@context"] != document.get("@context"):
        raise BadProof("the proof's @context is not the document's")
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z"):
        raise BadProof("the proof has no base58btc proofValue")
    method = proof.get("verificationMethod")
    if not isinstance(method, str):
        raise BadProof("the proof names no verification method")
    key = key_of_method(method)
    try:
        signature = b58decode(value[1:])
        nacl.signing.VerifyKey(public_of(key)).verify(hash_data(document, proof), signature)
    except (ValueError, nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError):
        raise BadProof("the signature does not match the document: it was changed after it was signed") from None
    return key


@dataclass(frozen=True)
class SigningKey:
    id: str  # the multibase public key
    created_at: int
    revoked_at: int | None
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "did": f"did:key:{self.id}",
            "created_at": iso(self.created_at),
            "revoked_at": iso(self.revoked_at) if self.revoked_at is not None else None,
            "reason": self.reason,
            "status": "revoked" if self.revoked_at is not None else "active",
        }


class KeyStore:
    """The vault's signing keys: at most one active; revoked ones are kept, to report them."""

    def __init__(self, vault: Vault, secrets_key: bytes) -> None:
        self.vault = vault
        self._box = nacl.secret.SecretBox(secrets_key)

    def __repr__(self) -> str:
        return "KeyStore()"

    def all(self) -> list[SigningKey]:
        rows = self.vault.conn.execute(
            "SELECT id, created_at, revoked_at, reason FROM vrm_keys ORDER BY created_at, id"
        ).fetchall()
        return [SigningKey(*r) for r in rows]

    def find(self, key_id: str) -> SigningKey | None:
        row = self.vault.conn.execute(
            "SELECT id, created_at, revoked_at, reason FROM vrm_keys WHERE id=?", (key_id,)
        ).fetchone()
        return SigningKey(*row) if row else None

    def create(self) -> SigningKey:
        """A new key, the one used from now on; the one before it, if any, is retired (revoked)."""
        key = nacl.signing.SigningKey.generate()
        at = now_ms()
        kid = multikey(bytes(key.verify_key))
        with self.vault.writer.transaction() as conn:
            conn.execute(
                "UPDATE vrm_keys SET revoked_at=?, reason='replaced by a new key' WHERE revoked_at IS NULL", (at,)
            )
            conn.execute(
                "INSERT INTO vrm_keys (id, box, created_at) VALUES (?,?,?)",
                (kid, bytes(self._box.encrypt(bytes(key))), at),
            )
        return SigningKey(kid, at, None, None)

    def revoke(self, key_id: str, reason: str) -> SigningKey:
        found = self.find(key_id)
        if found is None:
            raise KeyError_(f"no signing key {key_id!r} in this vault: selfdata share keys lists them")
        if found.revoked_at is not None:
            return found
        at = now_ms()
        with self.vault.writer.transaction() as conn:
            conn.execute("UPDATE vrm_keys SET revoked_at=?, reason=? WHERE id=?", (at, reason or "revoked", key_id))
        return SigningKey(key_id, found.created_at, at, reason or "revoked")

    def active(self) -> tuple[SigningKey, nacl.signing.SigningKey]:
        """The key disclosures are signed with, made on first use."""
        row = self.vault.conn.execute(
            "SELECT id, created_at, box FROM vrm_keys WHERE revoked_at IS NULL ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        if row is None:
            made = self.create()
            row = self.vault.conn.execute("SELECT id, created_at, box FROM vrm_keys WHERE id=?", (made.id,)).fetchone()
        try:
            seed = self._box.decrypt(row[2])
        except nacl.exceptions.CryptoError as err:
            raise VaultCorrupt(f"the signing key {row[0]} cannot be decrypted") from err
        return SigningKey(row[0], row[1], None, None), nacl.signing.SigningKey(seed)

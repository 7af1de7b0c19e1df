"""A minimal software passkey for the Python SDK lane: ES256, a resident credential, user
verification, attestation format `none`, and the browser's JSON forms (`credential.toJSON()`).
Test scaffolding only: it builds what a platform authenticator and a browser would send, so the
official SDK's passkey methods can be driven end to end. The CBOR it writes is the few fixed
shapes WebAuthn needs (WebAuthn L3 §6.1 authenticator data and L3 §6.5.4 attestation object)."""

import base64
import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cbor_bytes(b: bytes) -> bytes:
    n = len(b)
    if n < 24:
        return bytes([0x40 + n]) + b
    if n < 256:
        return bytes([0x58, n]) + b
    return bytes([0x59]) + struct.pack(">H", n) + b


def cbor_text(s: str) -> bytes:
    b = s.encode()
    assert len(b) < 24
    return bytes([0x60 + len(b)]) + b


class SoftPasskey:
    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.user_handle = b""
        self.rp_id = ""

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        # {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
        return bytes([0xA5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21]) + cbor_bytes(x) + bytes([0x22]) + cbor_bytes(y)

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()

    def create(self, public_key: dict, origin: str) -> dict:
        """`navigator.credentials.create({publicKey})` at `origin`, as `credential.toJSON()`."""
        self.rp_id = public_key["rp"]["id"]
        self.user_handle = unb64url(public_key["user"]["id"])
        client_data = self._client_data("webauthn.create", public_key["challenge"], origin)
        # flags: user present, user verified, attested credential data
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([0x45])
            + struct.pack(">I", 0)
            + bytes(16)
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose_key()
        )
        attestation = bytes([0xA3]) + cbor_text("fmt") + cbor_text("none") + cbor_text("attStmt") + bytes([0xA0])
        attestation += cbor_text("authData") + cbor_bytes(auth_data)
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def get(self, public_key: dict, origin: str) -> dict:
        """`navigator.credentials.get({publicKey})` at `origin` (a discoverable credential)."""
        assert public_key.get("rpId", self.rp_id) == self.rp_id
        client_data = self._client_data("webauthn.get", public_key["challenge"], origin)
        # flags: user present, user verified; a synced passkey's counter stays 0
        auth_data = hashlib.sha256(self.rp_id.encode()).digest() + bytes([0x05]) + struct.pack(">I", 0)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(self.user_handle),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

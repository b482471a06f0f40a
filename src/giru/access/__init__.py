"""Who is calling and what they may use: API keys and the compiled client directory."""

from giru.access.apikeys import (
    KEY_PREFIX,
    KeyVerifier,
    generate_key,
    hash_key,
    hmac_hash,
    sha256_hash,
    verify_key,
)
from giru.access.clients import MAX_KEY_LENGTH, ClientDirectory, ClientPrincipal

__all__ = [
    "KEY_PREFIX",
    "MAX_KEY_LENGTH",
    "ClientDirectory",
    "ClientPrincipal",
    "KeyVerifier",
    "generate_key",
    "hash_key",
    "hmac_hash",
    "sha256_hash",
    "verify_key",
]

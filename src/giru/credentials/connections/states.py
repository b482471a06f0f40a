"""The `state` of a connection flow: who started it, for which server, until when, sealed.

Giru keeps nothing per pending flow: the `state` it sends to the authorization server is the
flow itself, AES-256-GCM-sealed under a key derived from the secret store's key-encryption key
(the same in every worker), so the callback may reach any worker. The PKCE verifier is derived
from the state's nonce under another derived key, so it never travels. A state is bound to the
person and the server it was made for, expires (`TTL_S`), and is single use: the callback that
uses it remembers its nonce (in the process, and in the connection it makes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from giru.errors import ValidationError

__all__ = ["TTL_S", "FlowState", "FlowStates", "StateError"]

TTL_S: Final = 600.0
_PREFIX: Final = "gc1."
_MAX_LENGTH: Final = 2048
_REMEMBERED: Final = 10_000


class StateError(ValidationError):
    """The callback's `state` is unknown (not Giru's, altered), expired or already used."""

    code = "invalid_state"


@dataclass(frozen=True, slots=True)
class FlowState:
    server: str
    subject: str
    label: str
    nonce: str
    expires_at: float
    actor: str
    """Who asked for the flow (the API caller, or the person's principal on a call)."""


class FlowStates:
    """Seals and opens `FlowState`s with keys from `derive(purpose)`."""

    def __init__(
        self, derive: Callable[[str], bytes], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._derive = derive
        self._clock = clock
        self._used: dict[str, float] = {}

    def new(self, server: str, subject: str, label: str, actor: str) -> tuple[str, FlowState]:
        """A fresh flow: its `state` parameter and what it holds."""
        nonce = base64.urlsafe_b64encode(os.urandom(18)).decode()
        flow = FlowState(server, subject, label, nonce, self._clock() + TTL_S, actor)
        payload = orjson.dumps(
            {"v": server, "s": subject, "l": label, "n": nonce, "e": flow.expires_at, "a": actor}
        )
        iv = os.urandom(12)
        sealed = AESGCM(self._derive("connection-state")).encrypt(iv, payload, _PREFIX.encode())
        return _PREFIX + base64.urlsafe_b64encode(iv + sealed).decode().rstrip("="), flow

    def verifier(self, flow: FlowState) -> str:
        """The flow's PKCE code verifier (43 characters, RFC 7636 §4.1)."""
        digest = hmac.new(self._derive("connection-pkce"), flow.nonce.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")

    def open(self, state: str) -> FlowState:
        """The flow `state` holds, or `StateError` (unknown, altered, expired)."""
        if not state.startswith(_PREFIX) or len(state) > _MAX_LENGTH:
            raise StateError("unknown state: this sign-in was not started by Giru")
        text = state[len(_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            plain = AESGCM(self._derive("connection-state")).decrypt(
                raw[:12], raw[12:], _PREFIX.encode()
            )
            value = orjson.loads(plain)
            flow = FlowState(
                str(value["v"]),
                str(value["s"]),
                str(value["l"]),
                str(value["n"]),
                float(value["e"]),
                str(value["a"]),
            )
        except (binascii.Error, InvalidTag, ValueError, KeyError, TypeError) as exc:
            raise StateError("unknown state: this sign-in was not started by Giru") from exc
        if flow.expires_at <= self._clock():
            raise StateError("expired state: this sign-in took too long; connect again")
        return flow

    def use(self, flow: FlowState) -> None:
        """Mark `flow` used; `StateError` when it already was (a replayed callback)."""
        now = self._clock()
        if flow.nonce in self._used:
            raise StateError("this sign-in was already completed; connect again")
        if len(self._used) >= _REMEMBERED:
            self._used = {n: e for n, e in self._used.items() if e > now}
        self._used[flow.nonce] = flow.expires_at

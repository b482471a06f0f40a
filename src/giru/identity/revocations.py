"""People whose access an administrator revoked (`giru users revoke EMAIL`): a not-before time
per person.

An access token naming such a person is refused when it was issued (`iat`) before their
not-before, whatever its `exp` and whether or not it sits in the verified-token cache; a token
without `iat` cannot show when it was issued and is refused once its person has a not-before.
People are matched by their label (the email, else the subject), without regard to case.
Not-befores only move forward, so a reload that read the store just before a revocation cannot
undo one this worker already applied.
"""

from __future__ import annotations

from collections.abc import Mapping

from giru.identity.tokens import AccessToken, TokenError

__all__ = ["REVOKED", "Revocations"]

REVOKED = "the person's access was revoked by an administrator; sign in again"
"""The description a refused token's client hears (`error_description` of `invalid_token`)."""


class Revocations:
    """Not-before times (seconds since the epoch) by person label; shared by every
    `ProtectedResource` a worker builds, updated by the API and on every config reload."""

    def __init__(self, not_before: Mapping[str, float] | None = None) -> None:
        self._not_before: dict[str, float] = {}
        self.merge(not_before or {})

    def merge(self, not_before: Mapping[str, float]) -> None:
        """Take the later of the known and the given not-before of each person."""
        for label, at in not_before.items():
            key = label.lower()
            known = self._not_before.get(key)
            if known is None or at > known:
                self._not_before[key] = at

    def not_before(self, label: str) -> float | None:
        return self._not_before.get(label.lower())

    def check(self, token: AccessToken) -> None:
        """`TokenError` when `token` was issued before its person's access was revoked."""
        if not self._not_before:
            return
        at = self._not_before.get(token.person.label.lower())
        if at is not None and (token.issued_at is None or token.issued_at < at):
            raise TokenError(REVOKED)

    def __len__(self) -> int:
        return len(self._not_before)

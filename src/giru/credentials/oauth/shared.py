"""`RedisTokens`: OAuth tokens and their refresh locks shared by every worker through Redis.

Keys: `giru:oauth:token:<digest>` holds the `TokenSet` sealed with the secrets keyring
(AES-256-GCM envelope, the cache key as associated data: Redis never sees a token in clear),
expiring with the token (kept 30 days past it when it carries a refresh token);
`giru:oauth:lock:<digest>` is a lock (`SET NX PX`, released by a token-checked script) held
while one worker obtains tokens for that key. Every Redis call has a timeout; the lock is
waited for at most `wait_s`, and expires after `lock_ttl_s` if its holder dies.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Final

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import LockError, RedisError

from giru.credentials.envelope import Keyring, Sealed
from giru.credentials.oauth.cache import SharedTokensError
from giru.credentials.oauth.tokens import TokenSet
from giru.errors import CredentialsUnavailableError

__all__ = ["RedisTokens"]

_log = structlog.get_logger(__name__)
_TOKEN: Final = "giru:oauth:token:"  # noqa: S105 - a key prefix
_LOCK: Final = "giru:oauth:lock:"
_REFRESH_KEEP_S: Final = 30 * 24 * 3600


class RedisTokens:
    """`SharedTokens` over Redis (see the module docstring)."""

    def __init__(
        self,
        url: str,
        keyring: Keyring,
        *,
        timeout_s: float = 1.0,
        lock_ttl_s: float = 30.0,
        wait_s: float = 15.0,
    ) -> None:
        self._keyring = keyring
        self._lock_ttl_s = lock_ttl_s
        self._wait_s = wait_s
        self._client = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )

    @contextlib.asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        lock = self._client.lock(
            _LOCK + _digest(key),
            timeout=self._lock_ttl_s,
            blocking_timeout=self._wait_s,
            sleep=0.02,
        )
        try:
            acquired = await lock.acquire()
        except (RedisError, OSError) as exc:
            raise SharedTokensError(f"the token lock cannot be taken: {exc!r}") from exc
        if not acquired:
            raise SharedTokensError(
                f"another worker held the token lock for more than {self._wait_s:g} s"
            )
        try:
            yield
        finally:
            try:
                await lock.release()
            except (LockError, RedisError, OSError) as exc:  # it expires by itself
                _log.warning("oauth_token_lock_release_failed", error=repr(exc))

    async def load(self, key: str) -> TokenSet | None:
        name = _TOKEN + _digest(key)
        try:
            raw = await self._client.get(name)
        except (RedisError, OSError) as exc:
            raise SharedTokensError(f"shared tokens cannot be read: {exc!r}") from exc
        if raw is None:
            return None
        try:
            stored = orjson.loads(raw)
            sealed = Sealed(
                stored["k"], base64.b64decode(stored["w"]), base64.b64decode(stored["c"])
            )
            return TokenSet.loads(self._keyring.open(name, sealed))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            _log.error("oauth_shared_tokens_unreadable", error=type(exc).__name__)
            return None
        except CredentialsUnavailableError as exc:  # sealed by a key this process lacks
            _log.error("oauth_shared_tokens_unreadable", error=exc.message)
            return None

    async def save(self, key: str, tokens: TokenSet) -> None:
        name = _TOKEN + _digest(key)
        sealed = self._keyring.seal(name, tokens.dumps())
        value = orjson.dumps(
            {
                "k": sealed.key_id,
                "w": base64.b64encode(sealed.wrapped_key).decode(),
                "c": base64.b64encode(sealed.ciphertext).decode(),
            }
        )
        keep = tokens.expires_at - time.time() + (_REFRESH_KEEP_S if tokens.refresh_token else 0)
        try:
            await self._client.set(name, value, px=max(1000, int(keep * 1000)))
        except (RedisError, OSError) as exc:
            raise SharedTokensError(f"shared tokens cannot be written: {exc!r}") from exc

    async def aclose(self) -> None:
        await self._client.aclose()


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:40]

"""What the API's routes share: the store, the running gateway (`ApiRuntime`) and admin auth.

`NoPolicyEngine` is the policy side of a runtime that has no policy engine attached: every
evaluation fails with `policy_unavailable` (deny), and its status says no policy is active.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypedDict

from giru.api.auth import AdminAuth
from giru.approvals import ApprovalDesk
from giru.credentials import SecretStore
from giru.credentials.connections import Connections
from giru.errors import PolicyUnavailableError
from giru.identity.broker.trail import OAuthTrail
from giru.identity.revocations import Revocations
from giru.limits import QuotaPeriod
from giru.policy.replay import Recorded
from giru.store import Store, SyncResult
from giru.trust import TrustTrail

__all__ = [
    "ApiContext",
    "ApiRuntime",
    "ClientTool",
    "NoPolicyEngine",
    "PolicyHooks",
    "QuotaUse",
    "SignInOffer",
    "ToolProvider",
    "ToolQuota",
]

NO_ENGINE = "no policy engine is attached"


class ToolProvider(TypedDict):
    server: str
    subscription: str | None


class ToolQuota(TypedDict):
    perDay: int | None
    perMonth: int | None
    usedToday: int | None
    usedThisMonth: int | None
    remainingToday: int | None
    remainingThisMonth: int | None


class QuotaUse(TypedDict):
    """One quota of an active subscription and the calls admitted against it in the current
    period (`GET /api/v1/quotas`)."""

    subscription: str
    client: str | None
    subject: dict[str, str] | None
    server: str
    period: QuotaPeriod
    limit: int
    used: int


class ClientTool(TypedDict):
    """One tool in a client's compiled view, as `GET /api/v1/clients/{name}/tools` returns it."""

    name: str
    server: str
    tool: str
    description: str | None
    inputSchema: dict[str, Any]
    providedBy: ToolProvider
    quota: ToolQuota


class PolicyHooks(Protocol):
    """The policy engine as the API sees it (`giru.policy` implements it in the gateway)."""

    async def evaluate_policy(self, input: dict[str, Any]) -> dict[str, Any]:
        """The decision document (`allow`, `deny`, `redact`, `audit`, `alerts`, `revision`) for
        one OPA input document (docs/policies/input.md).

        Raises:
            PolicyUnavailableError: no decision could be made (no engine, error, timeout).
        """
        ...

    def policy_status(self) -> dict[str, Any]:
        """`{active, revision, packs, opa, url, lastError}` of the policy engine now."""
        ...

    def policy_bundle(self) -> tuple[bytes, str]:
        """The active bundle (tar.gz bytes) and its revision.

        Raises:
            PolicyUnavailableError: no bundle is active.
        """
        ...

    async def replay_policy(
        self, files: Mapping[str, str], calls: Sequence[Recorded]
    ) -> dict[str, Any]:
        """What the candidate `files` (bundle path -> text) would decide over recorded calls,
        next to what the active bundle decides (giru.policy.replay).

        Raises:
            ValidationError: the candidate does not compile or is not a policy directory.
            PolicyUnavailableError: no engine, no OPA binary, or OPA failed.
        """
        ...


class NoPolicyEngine:
    """`PolicyHooks` without an engine: nothing can be decided, so everything is denied."""

    async def evaluate_policy(self, input: dict[str, Any]) -> dict[str, Any]:
        raise PolicyUnavailableError(NO_ENGINE)

    def policy_status(self) -> dict[str, Any]:
        return {
            "active": False,
            "revision": None,
            "packs": [],
            "opa": "none",
            "url": None,
            "lastError": NO_ENGINE,
        }

    def policy_bundle(self) -> tuple[bytes, str]:
        raise PolicyUnavailableError(NO_ENGINE)

    async def replay_policy(
        self, files: Mapping[str, str], calls: Sequence[Recorded]
    ) -> dict[str, Any]:
        raise PolicyUnavailableError(NO_ENGINE)


class ApiRuntime(PolicyHooks, Protocol):
    """What only the running gateway knows; implemented by the app that mounts the API."""

    async def sync(self, server: str) -> SyncResult:
        """Fetch `server`'s tools/list now and record it in the store.

        Raises:
            NotFoundError: no such server.
            UpstreamUnavailableError: the server could not be reached.
        """
        ...

    async def client_tools(self, client: str) -> list[ClientTool]:
        """The tools `client` may call now (its compiled view), `server__tool` names sorted."""
        ...

    async def quota_use(self) -> list[QuotaUse]:
        """Every quota of the active subscriptions with its use in the current day or month,
        as the limiter counts it."""
        ...

    def notify(self) -> None:
        """A write was committed to the store: tell every worker to reload (must not block)."""
        ...


@dataclass(frozen=True, slots=True)
class SignInOffer:
    """People may sign in to the console at the IdP `provider` (its `IdentityProvider` name)
    through Giru's authorization server `issuer`."""

    provider: str
    issuer: str


@dataclass(frozen=True, slots=True)
class ApiContext:
    store: Store
    runtime: ApiRuntime
    auth: AdminAuth
    secrets: SecretStore | None = None
    revocations: Revocations | None = None
    """This worker's revoked people (applied here at once; other workers on reload)."""
    trail: OAuthTrail | None = None
    """Where identity events are audited."""
    connections: Connections | None = None
    trace_url: str | None = None
    """GIRU_OTEL__TRACE_URL: where audit records link their trace."""
    tool_trail: TrustTrail | None = None
    """Where tool trust decisions are audited."""
    approvals: ApprovalDesk | None = None
    """Calls waiting for a person's approval (None: those routes answer 503)."""
    sign_in: Callable[[], SignInOffer | None] | None = None
    """The IdP people may sign in to the console at now (None: admin keys only)."""

    def committed(self) -> None:
        """Call after every successful write: workers reload, the admin key cache refreshes."""
        self.auth.invalidate()
        self.runtime.notify()

    async def revoked(self, label: str, not_before: datetime, *, families: int, actor: str) -> None:
        """A person's access was revoked in the store: refuse their older tokens on this worker
        now, tell the others, and audit who revoked whom."""
        if self.revocations is not None:
            self.revocations.merge({label: not_before.timestamp()})
        self.committed()
        if self.trail is not None:
            await self.trail.event(
                "person_revoked",
                actor=actor,
                outcome="allowed",
                target=label,
                source_ip=None,
                details={"notBefore": not_before.isoformat(), "refreshFamilies": families},
            )

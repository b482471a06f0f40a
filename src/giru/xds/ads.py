"""The Aggregated Discovery Service (state of the world) that hands Envoy the current snapshot.

One ADS stream per Envoy carries every resource type. Per stream and type we remember what the
client subscribed to and what we last sent; a request with the latest nonce ACKs or NACKs that
response, an older nonce is stale and ignored (api/xds_protocol.rst, "Resource updates"). A push
goes out when a type is first requested, when its subscription changes, or when a published
snapshot changes that type's version; a NACKed version is not re-sent (a newer one is).
Delta xDS is not served: Envoy is configured for SotW (`api_type: GRPC`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

import grpc
import structlog
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from prometheus_client import CollectorRegistry, Counter, Gauge

from giru.xds.resources import CLUSTER, LISTENER, TYPE_ORDER, Snapshot

__all__ = ["AdsServer"]

_log = structlog.get_logger(__name__)

_Request: TypeAlias = Any
"""A `discovery_pb2.DiscoveryRequest`: the envoy protos ship no type stubs."""
_Response: TypeAlias = Any
"""A `discovery_pb2.DiscoveryResponse`."""
_Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

_WILDCARD: Final = "*"
_LEGACY_WILDCARD: Final = frozenset({CLUSTER, LISTENER})
"""Only for these types does an empty first subscription mean "everything"; for the others an
empty list means "nothing" (api/xds_protocol.rst, "How the client specifies what resources to
return")."""
_EMPTY_VERSION: Final = Snapshot({CLUSTER: {}}).versions[CLUSTER]
"""The version of a type the snapshot lacks: the same as an empty set of that type, so adding an
empty type later is not a change."""
_SHORT_NAMES: Final = {type_url: type_url.rsplit(".", 1)[-1] for type_url in TYPE_ORDER}


def _short(type_url: str) -> str:
    """The metric label: known types by message name, anything a client invents as `other`
    (a label must not take unbounded values from the network)."""
    return _SHORT_NAMES.get(type_url, "other")


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.streams = Gauge("giru_xds_streams", "Open ADS streams.", registry=registry)
        self.pushes = Counter(
            "giru_xds_pushes_total",
            "DiscoveryResponses sent, by type.",
            ["type"],
            registry=registry,
        )
        self.acks = Counter(
            "giru_xds_acks_total",
            "Responses Envoy accepted (ACK), by type.",
            ["type"],
            registry=registry,
        )
        self.nacks = Counter(
            "giru_xds_nacks_total",
            "Responses Envoy rejected (NACK), by type.",
            ["type"],
            registry=registry,
        )
        self.rejected = Gauge(
            "giru_xds_rejected",
            "Resource types whose latest response an Envoy rejected, over the open streams "
            "(0 once every Envoy accepted the current configuration).",
            registry=registry,
        )


@dataclass
class _TypeState:
    """One type on one stream. `names` None is a wildcard subscription."""

    names: frozenset[str] | None
    legacy: bool
    """Every request so far had no names: Cluster and Listener then mean "all" (legacy)."""
    due: bool = True
    """A request asked for an answer (first request, new subscription) not yet sent."""
    nonce: str = ""
    sent_version: str | None = None
    acked_version: str | None = None
    nack: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "names": None if self.names is None else sorted(self.names),
            "sent": self.sent_version,
            "acked": self.acked_version,
            "nack": self.nack,
        }


@dataclass(eq=False)
class _Stream:
    """The state of one ADS stream; `wake` is set whenever there may be something to send."""

    peer: str
    node_id: str = ""
    cluster: str = ""
    types: dict[str, _TypeState] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    error: tuple[grpc.StatusCode, str] | None = None
    _nonces: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def describe(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "cluster": self.cluster,
            "peer": self.peer,
            "types": {type_url: state.describe() for type_url, state in list(self.types.items())},
        }

    def responses(self, snapshot: Snapshot) -> list[_Response]:
        """What this stream should be sent now, clusters first (make before break). Marks each
        as sent: the nonce is current from here on, whatever the client says meanwhile."""
        order = [t for t in TYPE_ORDER if t in self.types]
        order += sorted(t for t in self.types if t not in TYPE_ORDER)
        out = []
        for type_url in order:
            state = self.types[type_url]
            version = snapshot.versions.get(type_url, _EMPTY_VERSION)
            if not state.due and state.sent_version == version:
                continue
            state.due = False
            state.sent_version = version
            state.nonce = str(next(self._nonces))
            resources = snapshot.of(type_url, state.names)
            out.append(
                discovery_pb2.DiscoveryResponse(
                    version_info=version, resources=resources, type_url=type_url, nonce=state.nonce
                )
            )
        return out


def _subscription(type_url: str, names: frozenset[str], legacy: bool) -> frozenset[str] | None:
    """None (all) for `*`, or for no names while the stream is in legacy wildcard mode."""
    if _WILDCARD in names or (legacy and not names and type_url in _LEGACY_WILDCARD):
        return None
    return names


class AdsServer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]  # no stubs
    """Serves the latest published snapshot to every connected Envoy.

    `publish` is called on the event loop's thread; each stream picks up the newest snapshot when
    it next wakes, so a burst of publishes costs one push per changed type.
    """

    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        self._metrics = _Metrics(registry if registry is not None else CollectorRegistry())
        self._snapshot: Snapshot | None = None
        self._streams: set[_Stream] = set()
        self._metrics.rejected.set_function(self._rejected)

    def _rejected(self) -> float:
        streams = list(self._streams)
        return float(sum(1 for s in streams for t in list(s.types.values()) if t.nack))

    def register(self, server: grpc.aio.Server) -> None:
        """Adds the service to `server` (the `register` callable of `grpc_server`)."""
        ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(self, server)

    @property
    def snapshot(self) -> Snapshot | None:
        """The last published snapshot, None before the first."""
        return self._snapshot

    def publish(self, snapshot: Snapshot) -> None:
        """Makes `snapshot` current; every open stream sends the types whose version changed."""
        self._snapshot = snapshot
        for stream in self._streams:
            stream.wake.set()

    def status(self) -> list[dict[str, Any]]:
        """One entry per open stream: node, cluster, peer and, per type URL, the subscribed
        names (None: all), the versions sent and acknowledged and the last NACK message.
        Reads copies, so a health check may call it from another thread."""
        return [stream.describe() for stream in list(self._streams)]

    async def StreamAggregatedResources(  # noqa: N802 - the gRPC method name
        self, request_iterator: AsyncIterator[_Request], context: _Context
    ) -> None:
        stream = _Stream(peer=context.peer())
        self._streams.add(stream)
        self._metrics.streams.inc()
        try:
            async with asyncio.TaskGroup() as group:
                receiver = group.create_task(self._receive(stream, request_iterator))
                await self._send(stream, context)
                receiver.cancel()  # done already unless the client vanished mid-write
        except Exception:  # noqa: BLE001 - the stream boundary: log it, end this stream only
            _log.exception("xds_stream_failed", node=stream.node_id, peer=stream.peer)
            stream.error = (grpc.StatusCode.INTERNAL, "the ADS stream failed; reconnect")
        finally:
            self._streams.discard(stream)
            self._metrics.streams.dec()
            _log.info("xds_stream_closed", node=stream.node_id, peer=stream.peer)
        if stream.error is not None:
            await context.abort(*stream.error)

    async def DeltaAggregatedResources(  # noqa: N802 - the gRPC method name
        self, request_iterator: AsyncIterator[Any], context: _Context
    ) -> None:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "giru serves state-of-the-world ADS only: use api_type GRPC, not DELTA_GRPC",
        )

    async def _receive(self, stream: _Stream, requests: AsyncIterator[_Request]) -> None:
        """Applies each request to the stream's state; ends the stream when the client
        half-closes or sends a request that cannot be served."""
        async for request in requests:
            if not request.type_url:
                stream.error = (grpc.StatusCode.INVALID_ARGUMENT, "type_url is required on ADS")
                break
            if not stream.node_id and request.node.id:
                stream.node_id, stream.cluster = request.node.id, request.node.cluster
                _log.info("xds_stream_opened", node=stream.node_id, cluster=stream.cluster)
            if self._apply(stream, request):
                stream.wake.set()
        stream.closed = True
        stream.wake.set()

    def _apply(self, stream: _Stream, request: _Request) -> bool:
        """Records an ACK or NACK and the subscription; True when an answer is due."""
        type_url: str = request.type_url
        names = frozenset(request.resource_names)
        state = stream.types.get(type_url)
        if state is None:
            stream.types[type_url] = _TypeState(
                names=_subscription(type_url, names, legacy=True),
                legacy=not names,
                acked_version=request.version_info or None,
            )
            return True
        if request.response_nonce and request.response_nonce != state.nonce:
            return False  # stale: a newer response is on its way and will be answered
        state.acked_version = request.version_info or None
        if request.response_nonce and request.HasField("error_detail"):
            self._nacked(stream, type_url, state, request.error_detail.message)
        elif request.response_nonce:
            state.nack = None
            self._metrics.acks.labels(_short(type_url)).inc()
        state.legacy = state.legacy and not names
        subscription = _subscription(type_url, names, state.legacy)
        if subscription != state.names or not request.response_nonce:
            state.names, state.due = subscription, True
        return state.due

    def _nacked(self, stream: _Stream, type_url: str, state: _TypeState, message: str) -> None:
        state.nack = message
        self._metrics.nacks.labels(_short(type_url)).inc()
        _log.warning(
            "xds_nack",
            node=stream.node_id,
            type=_short(type_url),
            rejected_version=state.sent_version,
            applied_version=state.acked_version,
            error=message,
        )

    async def _send(self, stream: _Stream, context: _Context) -> None:
        """Waits for a request or a publish and sends what is due, until the client is done
        or gone."""
        while True:
            await stream.wake.wait()
            stream.wake.clear()
            if stream.closed:
                return
            if self._snapshot is None:
                continue  # requests wait for the first snapshot
            for response in stream.responses(self._snapshot):
                try:
                    await context.write(response)
                except grpc.aio.InternalError as exc:
                    # How grpc reports a client gone mid-write, before it cancels the handler.
                    _log.info("xds_stream_lost", node=stream.node_id, error=str(exc))
                    return
                self._metrics.pushes.labels(_short(response.type_url)).inc()
                _log.debug(
                    "xds_push",
                    node=stream.node_id,
                    type=_short(response.type_url),
                    version=response.version_info,
                    nonce=response.nonce,
                    resources=len(response.resources),
                )

"""The ADS server against a real gRPC client: subscriptions, ACK/NACK, nonces, pushes on publish.

"Nothing else was pushed" is proved without sleeping: `_Envoy.quiet` subscribes to a probe type
no snapshot holds and checks that its answer is the next response (the server answers in order,
snapshot types before any other).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc
import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from prometheus_client import CollectorRegistry

from giru.xds.ads import AdsServer
from giru.xds.resources import CLUSTER, ENDPOINT, LISTENER, SECRET, Snapshot, pack
from giru.xds.serving import grpc_server

WAIT = 10.0  # a bound on waits for answers, never spent when they come: the first stream may
# take over a second to set up on a loaded machine (one failure seen at load 7 with 1.0)
PROBE = "type.googleapis.com/envoy.service.runtime.v3.Runtime"


def _snapshot(clusters: dict[str, str], endpoints: dict[str, int] | None = None) -> Snapshot:
    """Clusters by name with their connect timeout; endpoints by cluster name with a port."""
    return Snapshot(
        {
            CLUSTER: {
                name: pack(CLUSTER, {"name": name, "type": "STATIC", "connect_timeout": timeout})
                for name, timeout in clusters.items()
            },
            ENDPOINT: {
                name: pack(
                    ENDPOINT,
                    {
                        "cluster_name": name,
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": "127.0.0.1",
                                                    "port_value": port,
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                )
                for name, port in (endpoints or {}).items()
            },
        }
    )


def _names(response: Any) -> list[str]:
    names = []
    for resource in response.resources:
        if response.type_url == CLUSTER:
            cluster = cluster_pb2.Cluster()
            resource.Unpack(cluster)
            names.append(cluster.name)
        else:
            assignment = endpoint_pb2.ClusterLoadAssignment()
            resource.Unpack(assignment)
            names.append(assignment.cluster_name)
    return names


class _Requests:
    """The client's request stream, fed through a queue; None half-closes it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def __aiter__(self) -> _Requests:
        return self

    async def __anext__(self) -> Any:
        request = await self.queue.get()
        if request is None:
            raise StopAsyncIteration
        return request


class _Envoy:
    """One ADS stream, speaking as Envoy does: node on the first request, ACK/NACK by nonce."""

    def __init__(self, channel: grpc.aio.Channel, node: str = "envoy-1") -> None:
        self._requests = _Requests()
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        self.call = stub.StreamAggregatedResources(self._requests)
        self._node: str | None = node
        self._probes = 0
        self._probe_nonce = ""

    def send(
        self,
        type_url: str,
        names: Sequence[str] = (),
        *,
        nonce: str = "",
        version: str = "",
        error: str | None = None,
    ) -> None:
        request = discovery_pb2.DiscoveryRequest(
            type_url=type_url, resource_names=names, response_nonce=nonce, version_info=version
        )
        if self._node is not None:
            request.node.id, request.node.cluster = self._node, "edge"
            self._node = None
        if error is not None:
            request.error_detail.code = grpc.StatusCode.INVALID_ARGUMENT.value[0]
            request.error_detail.message = error
        self._requests.queue.put_nowait(request)

    def ack(self, response: Any, names: Sequence[str] = ()) -> None:
        self.send(response.type_url, names, nonce=response.nonce, version=response.version_info)

    def close(self) -> None:
        self._requests.queue.put_nowait(None)

    async def recv(self) -> Any:
        async with asyncio.timeout(WAIT):
            response = await self.call.read()
        assert response is not grpc.aio.EOF
        return response

    async def quiet(self) -> None:
        """Fails if anything but the probe's answer comes next."""
        self._probes += 1
        self.send(PROBE, [f"probe-{self._probes}"], nonce=self._probe_nonce)
        response = await self.recv()
        assert response.type_url == PROBE, f"unexpected push of {response.type_url}"
        self._probe_nonce = response.nonce


async def _eventually(condition: Callable[[], bool]) -> None:
    """Server-side effects with no client-visible event (a cancelled stream's cleanup)."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - the server exposes no event to wait on
            await asyncio.sleep(0.005)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def ads(registry: CollectorRegistry) -> AdsServer:
    return AdsServer(registry=registry)


@pytest.fixture
async def channel(ads: AdsServer) -> AsyncIterator[grpc.aio.Channel]:
    async with (
        grpc_server("127.0.0.1:0", ads.register, name="ads") as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        yield channel


@pytest.fixture
def envoy(channel: grpc.aio.Channel) -> _Envoy:
    return _Envoy(channel)


def _metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_wildcard_cds_gets_every_cluster_with_the_snapshot_version(
    ads: AdsServer, envoy: _Envoy, registry: CollectorRegistry
) -> None:
    snapshot = _snapshot({"b": "1s", "a": "1s"})
    ads.publish(snapshot)

    envoy.send(CLUSTER)
    response = await envoy.recv()

    assert response.type_url == CLUSTER
    assert response.version_info == snapshot.versions[CLUSTER]
    assert response.nonce
    assert _names(response) == ["a", "b"]
    assert _metric(registry, "giru_xds_pushes_total", type="Cluster") == 1
    assert ads.snapshot is snapshot


async def test_an_ack_is_recorded_and_not_answered(
    ads: AdsServer, envoy: _Envoy, registry: CollectorRegistry
) -> None:
    ads.publish(_snapshot({"a": "1s"}))
    envoy.send(CLUSTER)
    response = await envoy.recv()

    envoy.ack(response)
    await envoy.quiet()

    [stream] = ads.status()
    assert (stream["node"], stream["cluster"]) == ("envoy-1", "edge")
    assert stream["types"][CLUSTER] == {
        "names": None,
        "sent": response.version_info,
        "acked": response.version_info,
        "nack": None,
    }
    assert _metric(registry, "giru_xds_acks_total", type="Cluster") == 1
    assert _metric(registry, "giru_xds_rejected") == 0


async def test_publish_pushes_the_changed_type_only(ads: AdsServer, envoy: _Envoy) -> None:
    ads.publish(_snapshot({"a": "1s"}, {"a": 8080}))
    envoy.send(CLUSTER)
    envoy.send(ENDPOINT, ["a"])
    clusters, endpoints = await envoy.recv(), await envoy.recv()
    envoy.ack(clusters)
    envoy.ack(endpoints, ["a"])
    await envoy.quiet()

    changed = _snapshot({"a": "2s"}, {"a": 8080})
    ads.publish(changed)
    pushed = await envoy.recv()

    assert pushed.type_url == CLUSTER
    assert pushed.version_info == changed.versions[CLUSTER] != clusters.version_info
    assert pushed.nonce not in {clusters.nonce, endpoints.nonce}
    await envoy.quiet()


async def test_a_nack_is_recorded_and_only_a_newer_version_is_sent(
    ads: AdsServer, envoy: _Envoy, registry: CollectorRegistry
) -> None:
    ads.publish(_snapshot({"a": "1s"}))
    envoy.send(CLUSTER)
    accepted = await envoy.recv()
    envoy.ack(accepted)
    rejected_snapshot = _snapshot({"a": "2s"})
    ads.publish(rejected_snapshot)
    rejected = await envoy.recv()

    envoy.send(CLUSTER, nonce=rejected.nonce, version=accepted.version_info, error="bad cluster")
    ads.publish(_snapshot({"a": "2s"}, {"a": 8080}))  # another type changed: CDS stays put
    await envoy.quiet()

    state = ads.status()[0]["types"][CLUSTER]
    assert state["nack"] == "bad cluster"
    assert state["sent"] == rejected.version_info
    assert state["acked"] == accepted.version_info
    assert _metric(registry, "giru_xds_nacks_total", type="Cluster") == 1
    assert _metric(registry, "giru_xds_rejected") == 1

    fixed = _snapshot({"a": "3s"})
    ads.publish(fixed)
    pushed = await envoy.recv()
    assert pushed.version_info == fixed.versions[CLUSTER]
    envoy.ack(pushed)
    await envoy.quiet()
    assert ads.status()[0]["types"][CLUSTER]["nack"] is None
    assert _metric(registry, "giru_xds_acks_total", type="Cluster") >= 1
    assert _metric(registry, "giru_xds_rejected") == 0


async def test_eds_answers_the_named_resources_and_again_when_names_change(
    ads: AdsServer, envoy: _Envoy
) -> None:
    snapshot = _snapshot({}, {"a": 8080, "b": 8081, "c": 8082})
    ads.publish(snapshot)

    envoy.send(ENDPOINT, ["a"])
    first = await envoy.recv()
    envoy.ack(first, ["a", "c"])
    second = await envoy.recv()

    assert _names(first) == ["a"]
    assert _names(second) == ["a", "c"]
    assert second.version_info == first.version_info == snapshot.versions[ENDPOINT]
    assert second.nonce != first.nonce
    assert ads.status()[0]["types"][ENDPOINT]["names"] == ["a", "c"]


async def test_a_request_with_a_stale_nonce_is_ignored(
    ads: AdsServer, envoy: _Envoy, registry: CollectorRegistry
) -> None:
    ads.publish(_snapshot({}, {"a": 8080, "b": 8081}))
    envoy.send(ENDPOINT, ["a"])
    old = await envoy.recv()
    ads.publish(_snapshot({}, {"a": 9090, "b": 8081}))
    new = await envoy.recv()

    envoy.send(ENDPOINT, ["a", "b"], nonce=old.nonce, error="late complaint")
    await envoy.quiet()

    state = ads.status()[0]["types"][ENDPOINT]
    assert state["names"] == ["a"]
    assert state["nack"] is None
    assert state["acked"] is None
    assert _metric(registry, "giru_xds_nacks_total", type="ClusterLoadAssignment") == 0
    envoy.ack(new, ["a"])
    await envoy.quiet()
    assert ads.status()[0]["types"][ENDPOINT]["acked"] == new.version_info


async def test_a_request_before_the_first_publish_is_answered_after_it(
    ads: AdsServer, envoy: _Envoy
) -> None:
    envoy.send(CLUSTER)
    await _eventually(lambda: any(CLUSTER in stream["types"] for stream in ads.status()))
    assert ads.status()[0]["types"][CLUSTER]["sent"] is None

    snapshot = _snapshot({"a": "1s"})
    ads.publish(snapshot)
    response = await envoy.recv()

    assert response.version_info == snapshot.versions[CLUSTER]
    assert _names(response) == ["a"]


async def test_types_the_snapshot_lacks_are_answered_empty(ads: AdsServer, envoy: _Envoy) -> None:
    ads.publish(_snapshot({"a": "1s"}))

    envoy.send(LISTENER)
    envoy.send(SECRET, ["giru_edge_cert"])
    listeners, secrets = await envoy.recv(), await envoy.recv()

    assert (listeners.type_url, secrets.type_url) == (LISTENER, SECRET)
    assert list(listeners.resources) == list(secrets.resources) == []
    assert listeners.version_info == secrets.version_info == Snapshot({SECRET: {}}).versions[SECRET]


async def test_empty_names_outside_cds_and_lds_subscribe_to_nothing(
    ads: AdsServer, envoy: _Envoy
) -> None:
    ads.publish(_snapshot({}, {"a": 8080}))
    envoy.send(ENDPOINT, ["a"])
    named = await envoy.recv()

    envoy.ack(named, [])
    unsubscribed = await envoy.recv()
    envoy.ack(unsubscribed, ["*"])
    everything = await envoy.recv()

    assert _names(named) == ["a"]
    assert list(unsubscribed.resources) == []
    assert _names(everything) == ["a"]


async def test_cds_leaves_legacy_wildcard_once_it_names_clusters(
    ads: AdsServer, envoy: _Envoy
) -> None:
    ads.publish(_snapshot({"a": "1s", "b": "1s"}))
    envoy.send(CLUSTER)
    everything = await envoy.recv()

    envoy.ack(everything, ["b"])
    named = await envoy.recv()
    envoy.ack(named, [])
    unsubscribed = await envoy.recv()

    assert _names(everything) == ["a", "b"]
    assert _names(named) == ["b"]
    assert list(unsubscribed.resources) == []


async def test_two_streams_both_receive_a_push(ads: AdsServer, channel: grpc.aio.Channel) -> None:
    ads.publish(_snapshot({"a": "1s"}))
    envoys = [_Envoy(channel, "envoy-1"), _Envoy(channel, "envoy-2")]
    for envoy in envoys:
        envoy.send(CLUSTER)
        envoy.ack(await envoy.recv())
        await envoy.quiet()

    changed = _snapshot({"a": "1s", "b": "1s"})
    ads.publish(changed)

    for envoy in envoys:
        pushed = await envoy.recv()
        assert (pushed.version_info, _names(pushed)) == (changed.versions[CLUSTER], ["a", "b"])
    assert sorted(stream["node"] for stream in ads.status()) == ["envoy-1", "envoy-2"]


async def test_delta_xds_is_unimplemented(channel: grpc.aio.Channel) -> None:
    stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
    call = stub.DeltaAggregatedResources(_Requests())

    async with asyncio.timeout(WAIT):
        code, details = await call.code(), await call.details()

    assert code == grpc.StatusCode.UNIMPLEMENTED
    assert "state-of-the-world" in details


async def test_a_request_without_type_url_ends_the_stream(
    ads: AdsServer, envoy: _Envoy, registry: CollectorRegistry
) -> None:
    envoy.send("")

    async with asyncio.timeout(WAIT):
        code = await envoy.call.code()

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert _metric(registry, "giru_xds_streams") == 0


async def test_the_stream_gauge_returns_to_zero_when_the_client_goes_away(
    ads: AdsServer, envoy: _Envoy, registry: CollectorRegistry
) -> None:
    ads.publish(_snapshot({"a": "1s"}))
    envoy.send(CLUSTER)
    await envoy.recv()
    assert _metric(registry, "giru_xds_streams") == 1

    envoy.call.cancel()

    await _eventually(lambda: _metric(registry, "giru_xds_streams") == 0)
    assert ads.status() == []


async def test_a_half_closed_stream_ends_with_ok(
    ads: AdsServer, envoy: _Envoy, registry: CollectorRegistry
) -> None:
    ads.publish(_snapshot({"a": "1s"}))
    envoy.send(CLUSTER)
    await envoy.recv()

    envoy.close()
    async with asyncio.timeout(WAIT):
        code = await envoy.call.code()

    assert code == grpc.StatusCode.OK
    assert _metric(registry, "giru_xds_streams") == 0


async def test_stopping_the_server_ends_open_streams(
    ads: AdsServer, registry: CollectorRegistry
) -> None:
    server = grpc.aio.server()
    ads.register(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        envoy = _Envoy(channel)
        ads.publish(_snapshot({"a": "1s"}))
        envoy.send(CLUSTER)
        await envoy.recv()

        async with asyncio.timeout(WAIT):
            await server.stop(None)
            code = await envoy.call.code()

    assert code != grpc.StatusCode.OK
    await _eventually(lambda: _metric(registry, "giru_xds_streams") == 0)

"""The Streamable HTTP connector (2025-03-26 … 2025-11-25 sessions, and the 2026-07-28 era).

Each request is one POST whose answer is JSON or an SSE stream; that stream's notifications and
server->client requests belong to the request. A legacy session also listens on a GET stream
for unsolicited messages. In the modern era there is no session: every request carries `_meta`
and the `Mcp-Method`/`Mcp-Name` headers, and closing the stream is the cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, Final

import structlog
from yarl import URL

from giru.egress.lean import LeanClient, LeanResponse
from giru.errors import UpstreamError
from giru.mcp.headers import NAME_SOURCES, encode_header_value
from giru.mcp.jsonrpc import dumps
from giru.mcp.versions import META_PROTOCOL_VERSION as _META_VERSION
from giru.upstream._calls import Call, Exchange, unavailable
from giru.upstream._handshake import EraCache, HandshakeState, Negotiated, modern_meta, negotiate
from giru.upstream._http_io import (
    exchange_error,
    iter_events,
    media_type,
    read_capped,
    status_error,
)
from giru.upstream._sse import SseDecoder
from giru.upstream._tasks import TaskSet
from giru.upstream._wire import MAX_MESSAGE_BYTES, parse_upstream, protocol_error
from giru.upstream.base import RESTARTED, ClientIdentity, MessageSink, ServerSpec

__all__ = ["StreamableHttpSession"]

_log = structlog.get_logger(__name__)

_MAX_RESUMES: Final = 5
_LISTEN_READY_S: Final = 2.0
"""How long a new session waits for its standalone GET stream to be answered."""


class _SessionExpiredError(UpstreamError):
    code = "upstream_unavailable"


class StreamableHttpSession(HandshakeState):
    """An `UpstreamSession` over Streamable HTTP, sharing the gateway's upstream HTTP client."""

    def __init__(
        self,
        spec: ServerSpec,
        identity: ClientIdentity,
        *,
        on_unsolicited: MessageSink,
        http: LeanClient,
        eras: EraCache | None = None,
    ) -> None:
        if not spec.url:
            raise unavailable(spec.name, "streamable-http upstream has no url")
        self._spec, self._identity = spec, identity
        self._url = URL(spec.url)  # parsed once, not on every request
        self._http, self._eras = http, eras
        self._on_unsolicited = on_unsolicited
        self._tasks = TaskSet(spec.name)
        self._exchange = Exchange(
            spec.name,
            spec.timeouts,
            on_unsolicited=on_unsolicited,
            send=self._send,
            tasks=self._tasks,
        )
        self._session_id: str | None = None
        self._modern: str | None = None
        self._negotiated: Negotiated | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        """Set once the standalone GET stream got its answer (or failed)."""
        self._watched: frozenset[str] = frozenset()
        """2026-07-28: resource URIs the listen stream asks updates for (`watch_resources`)."""
        self._init_lock = asyncio.Lock()
        self._closed = False
        self._short_timeout = spec.timeouts.connect
        """Bounds a whole exchange that answers no request (DELETE, notifications, responses)."""

    @property
    def era(self) -> str:
        return self._negotiated.era if self._negotiated else ""

    async def start(self) -> None:
        async with self._init_lock:
            await self._handshake()

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None,
        *,
        on_message: MessageSink | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- an idle timeout that progress resets
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        if self._closed:
            raise unavailable(self.server, "upstream session closed")
        token = _EXTRA_HEADERS.set(headers)  # read by _headers() in the POST task spawned below
        try:
            return await self._call_once_more_if_expired(method, params, on_message, timeout)
        finally:
            _EXTRA_HEADERS.reset(token)

    async def _call_once_more_if_expired(
        self,
        method: str,
        params: dict[str, Any] | None,
        on_message: MessageSink | None,
        timeout: float | None,  # noqa: ASYNC109 -- an idle timeout that progress resets
    ) -> dict[str, Any]:
        expired_id = self._session_id
        try:
            return await self._call(method, params, on_message, timeout)
        except _SessionExpiredError:
            # The server answered 404 for our session id before processing the request (MCP:
            # the client must start a new session), so sending it again cannot repeat it.
            if await self._reinitialize(expired_id):
                await self._on_unsolicited(dict(RESTARTED))
        return await self._call(method, params, on_message, timeout)

    async def notify(self, method: str, params: dict[str, Any] | None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._send(message)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._exchange.fail_all(unavailable(self.server, "upstream session closed"))
        await self._tasks.aclose()
        if self._session_id is not None:
            await self._delete_session()

    # -- session lifecycle ------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        params: dict[str, Any] | None,
        on_message: MessageSink | None,
        timeout: float | None,  # noqa: ASYNC109 -- passed through to the exchange
    ) -> dict[str, Any]:
        return await self._exchange.request(
            method, params, on_message=on_message, timeout=timeout, transmit=self._transmit
        )

    async def _handshake(self) -> None:
        self._session_id, self._modern = None, None
        cached = self._spec.era if self._spec.era != "auto" else None
        if cached is None and self._eras is not None:
            cached = self._eras.get(self.server)
        try:
            async with asyncio.timeout(self._spec.timeouts.connect):
                self._negotiated = await negotiate(
                    self.server,
                    self._identity,
                    request=self._handshake_request,
                    notify=self.notify,
                    use_modern=self._use_modern,
                    cached=cached,
                    pinned=self._spec.era != "auto",
                )
        except TimeoutError as exc:
            raise unavailable(self.server, "upstream handshake timed out") from exc
        if self._eras is not None:
            self._eras.remember(self.server, self._negotiated.era)
        self._exchange.cancel_by_notification = self._modern is None
        if self._modern is None:
            self._listening = asyncio.Event()
            self._listener = self._tasks.spawn(self._listen(), "listen")
            # The standalone stream is open (or refused) before this session serves a call: a
            # server may hand a pending answer to whichever GET comes next (a resumption), and
            # what it announces right after `initialize` must not be missed. Bounded.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._listening.wait(), min(self._spec.timeouts.connect, _LISTEN_READY_S)
                )
        else:
            self._listener = self._tasks.spawn(self._subscribe(), "subscribe")

    async def _handshake_request(
        self, method: str, params: dict[str, Any] | None
    ) -> dict[str, Any]:
        return await self._call(method, params, None, self._spec.timeouts.connect)

    async def watch_resources(self, uris: frozenset[str]) -> bool:
        """Ask a 2026-07-28 upstream for `notifications/resources/updated` on these URIs: its
        listen stream is reopened with them (the era has no `resources/subscribe`). False for a
        legacy session, whose clients subscribe with the RPC itself."""
        if self._modern is None:
            return False
        if uris != self._watched:
            self._watched = uris
            if self._listener is not None:
                self._listener.cancel()
            self._listener = self._tasks.spawn(self._subscribe(), "subscribe")
        return True

    def _use_modern(self, version: str | None) -> None:
        self._modern = version

    async def _reinitialize(self, expired_id: str | None) -> bool:
        """Start a new upstream session; False when another request already did."""
        async with self._init_lock:
            if self._session_id != expired_id:
                return False
            _log.info("upstream session expired; re-initializing", server=self.server)
            if self._listener is not None:
                self._listener.cancel()
            await self._handshake()
            return True

    async def _delete_session(self) -> None:
        try:
            async with self._request(
                "DELETE", self._headers(None), self._short_timeout
            ) as response:
                if response.status not in (200, 202, 204, 404, 405):
                    _log.info("upstream refused session delete", status=response.status)
        except OSError as exc:  # HttpError, EgressRefusedError, TimeoutError
            _log.info("could not delete upstream session", server=self.server, error=str(exc))

    # -- outbound ---------------------------------------------------------------------------

    def _headers(self, message: dict[str, Any] | None) -> dict[str, str]:
        headers = dict(self._spec.headers)
        headers["Accept"] = "application/json, text/event-stream"
        headers["Content-Type"] = "application/json"
        version = self._modern or (self._negotiated.protocol_version if self._negotiated else None)
        if version is not None:
            headers["MCP-Protocol-Version"] = version
        if self._session_id is not None:
            headers["Mcp-Session-Id"] = self._session_id
        if message is None or "method" not in message:
            return headers
        extra = _EXTRA_HEADERS.get() or {}
        if self._modern is not None:
            headers.update(_routing_headers(message))
            headers.update(extra)
        else:  # the trace context goes to every HTTP upstream, whatever its era
            for name in _TRACE_HEADERS:
                if name in extra:
                    headers[name] = extra[name]
        return headers

    def _envelope(self, message: dict[str, Any]) -> dict[str, Any]:
        if self._modern is None or "method" not in message:
            return message
        params = dict(message.get("params") or {})
        meta = params.get("_meta")
        # The calling client's own envelope (capabilities, client info) wins when it has one: a
        # modern upstream must see what the end client can do, not what the gateway can.
        envelope = modern_meta(self._identity, self._modern)
        params["_meta"] = {**envelope, **(meta if isinstance(meta, dict) else {})}
        params["_meta"][_META_VERSION] = self._modern
        return {**message, "params": params}

    def _request(
        self,
        method: str,
        headers: dict[str, str],
        timeout: float | None,  # the whole exchange's bound; None for streams
        data: bytes | None = None,
    ) -> contextlib.AbstractAsyncContextManager[LeanResponse]:
        """One request to the upstream; a redirect raises `RedirectRefusedError` (never
        followed)."""
        return self._http.request(
            method,
            self._url,
            headers,
            data,
            tls=self._spec.tls,
            connect_timeout=self._spec.timeouts.connect,
            total_timeout=timeout,
        )

    async def _transmit(self, call: Call, message: dict[str, Any]) -> None:
        task = self._tasks.spawn(self._exchange_over_post(call, message), f"post:{call.method}")
        call.future.add_done_callback(lambda _: task.cancel())

    async def _send(self, message: dict[str, Any]) -> None:
        """POST a notification or a response; the upstream answers 202."""
        message = self._envelope(message)
        try:
            async with self._request(
                "POST", self._headers(message), self._short_timeout, dumps(message)
            ) as response:
                if response.status not in (200, 202, 204):
                    raise await status_error(self.server, response)
        except OSError as exc:  # HttpError, EgressRefusedError, TimeoutError
            raise exchange_error(self.server, exc, "could not reach upstream") from exc

    async def _exchange_over_post(self, call: Call, message: dict[str, Any]) -> None:
        try:
            await self._post(call, self._envelope(message))
        except UpstreamError as exc:
            _fail(call, exc)
        except OSError as exc:  # HttpError, EgressRefusedError, TimeoutError
            _fail(call, exchange_error(self.server, exc, "upstream connection failed"))

    async def _post(self, call: Call, message: dict[str, Any]) -> None:
        async with self._request("POST", self._headers(message), None, dumps(message)) as response:
            if call.method == "initialize":
                self._session_id = _session_header(self.server, response)
            if response.status == 404 and self._session_id is not None:
                raise _SessionExpiredError(self.server, "upstream session expired")
            kind = media_type(response)
            if kind == "text/event-stream" and response.status == 200:
                cursor = await self._read_stream(call, response)
            elif kind == "application/json" and response.status not in (401, 403):
                await self._read_json(call, response)  # a refused credential: status_error
                return
            else:
                raise await status_error(self.server, response)
        await self._resume(call, cursor)

    async def _read_json(self, call: Call, response: LeanResponse) -> None:
        body = await read_capped(self.server, response)
        message = parse_upstream(self.server, body)
        if not self._exchange.response_for(call, message):
            if response.status >= 400:
                raise await status_error(self.server, response)
            raise protocol_error(self.server, "upstream answered with another message", body)
        await self._exchange.deliver(message, via=call)

    async def _read_stream(
        self, call: Call | None, response: LeanResponse
    ) -> tuple[str | None, float]:
        """Deliver every event; returns (last event id, retry seconds) if the stream ended early."""
        decoder = SseDecoder(MAX_MESSAGE_BYTES)
        retry = 1.0
        async for event in iter_events(self.server, response, decoder):
            if event.retry_ms is not None:
                retry = min(event.retry_ms / 1000, 30.0)
            if event.event != "message" or not event.data:
                continue
            message = parse_upstream(self.server, event.data.encode())
            await self._exchange.deliver(message, via=call)
            if call is not None and self._exchange.response_for(call, message):
                return None, retry
        return decoder.last_event_id, retry

    async def _resume(self, call: Call, cursor: tuple[str | None, float]) -> None:
        """The stream closed before the response: reconnect with GET + Last-Event-ID (resumable)."""
        for _ in range(_MAX_RESUMES):
            last_id, retry = cursor
            if call.future.done():
                return
            if last_id is None:
                raise unavailable(self.server, "upstream closed the stream before responding")
            await asyncio.sleep(retry)
            headers = self._headers(None) | {
                "Accept": "text/event-stream",
                "Last-Event-ID": last_id,
            }
            async with self._request("GET", headers, None) as response:
                if response.status != 200 or media_type(response) != "text/event-stream":
                    raise await status_error(self.server, response)
                cursor = await self._read_stream(call, response)
                if cursor[0] is None:
                    cursor = (last_id, cursor[1])
        if not call.future.done():
            raise unavailable(self.server, "upstream stream kept closing before responding")

    # -- the standalone GET stream ----------------------------------------------------------

    async def _listen(self) -> None:
        await self._keep_open(self._listen_once, "GET")

    async def _subscribe(self) -> None:
        """Modern upstreams announce list changes only on a `subscriptions/listen` stream."""
        await self._keep_open(self._subscribe_once, "listen")

    async def _keep_open(self, once: Callable[[], Awaitable[bool]], stream: str) -> None:
        """Reopen a long-lived stream with backoff until the upstream says it has none."""
        delay = 1.0
        while True:
            try:
                if not await once():
                    return
                delay = 1.0
            except (UpstreamError, OSError) as exc:
                _log.info(
                    "upstream stream failed", server=self.server, stream=stream, error=str(exc)
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _subscribe_once(self) -> bool:
        """One listen stream; False when the upstream does not offer one."""
        message = self._envelope(
            {
                "jsonrpc": "2.0",
                "id": _LISTEN_ID,
                "method": "subscriptions/listen",
                "params": {"notifications": self._listen_filters()},
            }
        )
        async with self._request("POST", self._headers(message), None, dumps(message)) as response:
            if response.status != 200 or media_type(response) != "text/event-stream":
                _log.info("no upstream listen stream", server=self.server, status=response.status)
                return False
            await self._read_stream(None, response)
        return True

    def _listen_filters(self) -> dict[str, Any]:
        filters: dict[str, Any] = dict.fromkeys(_LIST_FILTERS, True)
        if self._watched:
            filters["resourceSubscriptions"] = sorted(self._watched)
        return filters

    async def _listen_once(self) -> bool:
        """One GET stream; False when the upstream does not offer one (405) or refuses it."""
        headers = self._headers(None) | {"Accept": "text/event-stream"}
        try:
            async with self._request("GET", headers, None) as resp:
                self._listening.set()
                if resp.status != 200 or media_type(resp) != "text/event-stream":
                    _log.debug("no upstream GET stream", server=self.server, status=resp.status)
                    return False
                await self._read_stream(None, resp)
        finally:
            self._listening.set()
        return True


_LISTEN_ID: Final = "giru-listen"
_LIST_FILTERS: Final = ("toolsListChanged", "promptsListChanged", "resourcesListChanged")

_EXTRA_HEADERS: ContextVar[Mapping[str, str] | None] = ContextVar(
    "giru_upstream_headers", default=None
)


_TRACE_HEADERS: Final = ("traceparent", "tracestate")


def _routing_headers(message: dict[str, Any]) -> dict[str, str]:
    method = str(message["method"])
    headers = {"Mcp-Method": encode_header_value(method)}
    key = NAME_SOURCES.get(method)
    params = message.get("params")
    if key is not None and isinstance(params, dict) and isinstance(params.get(key), str):
        headers["Mcp-Name"] = encode_header_value(params[key])
    return headers


def _session_header(server: str, response: LeanResponse) -> str | None:
    value = response.headers.get("Mcp-Session-Id")
    if value is None:
        return None
    if not value or not all(0x21 <= ord(c) <= 0x7E for c in value) or len(value) > 512:
        raise protocol_error(server, "upstream issued an invalid Mcp-Session-Id", value.encode())
    return value


def _fail(call: Call, exc: UpstreamError) -> None:
    if not call.future.done():
        call.future.set_exception(exc)

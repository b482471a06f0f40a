"""The edge's own credential check (`xds.edge_check: keys`): Envoy refuses, without asking any
worker, a request the worker would surely refuse for its credentials, with the worker's own
answer; everything else goes on to a worker, which authenticates every call as it always does.

What Envoy refuses, at an endpoint that asks for credentials (`auth` other than `none`, on the
paths and methods where the worker asks: `giru.proxy.admission.asks_for_key`):
- no `Authorization: Bearer <token>` (missing, another scheme, empty);
- where only API keys are accepted (no OAuth access token could be it): a token that is not an
  API key of the current format (`giru_<id>_<secret>`), or whose public identifier is not one of
  a live key. The secret is never checked here (only slow hashes of it exist): a live identifier
  with a wrong secret reaches the worker, which refuses it. When some live key has no identifier
  (a key from before identifiers, or an `apiKeyEnv` value of another format) only the first
  rule applies.
- A JWT-shaped token goes on where OAuth is accepted (the worker verifies it), and so does any
  token where an IdP introspects opaque access tokens.

The rules and the data (each endpoint's refusal, the live identifiers: public, neither secrets
nor hashes) are one Lua script in the route table's virtual host (RDS: one copy, however many
routes), which every worker route inherits; every other route turns the filter off. A new or
revoked key changes the routes only, never the listeners (no drain). The listener's filter
itself refuses with a 503 wherever no script reaches (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from giru.access.clients import ClientDirectory
from giru.proxy.admission import Admission, Refusal
from giru.proxy.endpoints import GLOBAL, Endpoint
from giru.proxy.gateway import Gateway
from giru.xds.resources import HTTP_FILTERS

__all__ = ["FILTER", "EdgeAccess", "EndpointAccess", "check_filter", "check_off", "check_on"]

FILTER: Final = "giru.edge_check"
"""The name of the Lua filter instance (routes address their per-route config to it)."""

_UNCHECKED: Final = Refusal(
    503,
    ((b"content-type", b"application/json"),),
    b'{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":'
    b'"Service unavailable: the credentials could not be checked",'
    b'"data":{"reason":"edge_check_unconfigured"}}}',
)
"""The answer on a route the control plane gave no check (it never should): nothing gets in."""


@dataclass(frozen=True)
class EndpointAccess:
    """What the edge knows of one endpoint: what it accepts and how the worker refuses there."""

    name: str
    keys: bool
    """API keys are accepted."""
    jwt: bool
    """OAuth access tokens (JWTs) are accepted."""
    opaque: bool
    """Opaque access tokens are accepted (an IdP introspects them): any token may be one."""
    refusal: Refusal
    """At the endpoint's path."""
    legacy_refusal: Refusal
    """At its 2024-11-05 `sse` and `messages` paths (another `resource_metadata`)."""

    @classmethod
    def of(cls, endpoint: Endpoint, admission: Admission) -> EndpointAccess | None:
        """None for an endpoint that asks for nothing (`auth: none`)."""
        if endpoint.auth == "none":
            return None
        oauth = admission.accepts_oauth(endpoint)
        resource = admission.resource
        return cls(
            name=endpoint.name,
            keys=endpoint.auth in ("apiKey", "any"),
            jwt=oauth,
            opaque=oauth and resource is not None and resource.introspects,
            refusal=admission.unauthenticated(endpoint, ""),
            legacy_refusal=admission.unauthenticated(endpoint, "sse"),
        )


@dataclass(frozen=True)
class EdgeAccess:
    """The endpoints that ask for credentials and the live API keys' identifiers (None: some
    live key has none, so identifiers are not checked)."""

    endpoints: tuple[EndpointAccess, ...]
    key_ids: frozenset[str] | None

    @classmethod
    def of(
        cls,
        endpoints: Mapping[str, Endpoint],
        admission: Admission,
        key_ids: frozenset[str] | None,
    ) -> EdgeAccess:
        found = (EndpointAccess.of(endpoints[name], admission) for name in sorted(endpoints))
        return cls(tuple(e for e in found if e is not None), key_ids)

    @classmethod
    def of_gateway(cls, gateway: Gateway) -> EdgeAccess:
        """What the check holds for `gateway` as it is now: its endpoints, their refusals and
        the live API keys' public identifiers."""
        directory = gateway.authenticator
        ids = directory.key_ids if isinstance(directory, ClientDirectory) else None
        return cls.of(gateway.endpoints, gateway.admission, ids)

    def script(self) -> str:
        """The route's Lua: the data as tables, then the rules (`_RULES`)."""
        lines = ["local GLOBAL = " + _lua(GLOBAL), "local ids = " + _ids(self.key_ids)]
        lines.append("local endpoints = {")
        lines += [_endpoint(item) for item in self.endpoints]
        lines.append("}")
        return "\n".join(lines) + _RULES


def check_filter() -> dict[str, Any]:
    """The listener's filter: a fixed script that refuses (fail closed); the virtual host
    replaces it for the worker routes (`check_on`), every other route turns it off
    (`check_off`)."""
    return {
        "name": FILTER,
        "typed_config": {
            "@type": HTTP_FILTERS + "lua.v3.Lua",
            "default_source_code": {"inline_string": _refuse_all()},
        },
    }


def check_on(access: EdgeAccess | None) -> dict[str, Any]:
    """The virtual host's per-filter config (the worker routes inherit it); without `access`
    yet, they refuse."""
    source = access.script() if access is not None else _refuse_all()
    return {
        FILTER: {
            "@type": HTTP_FILTERS + "lua.v3.LuaPerRoute",
            "source_code": {"inline_string": source},
        }
    }


def check_off() -> dict[str, Any]:
    return {FILTER: {"@type": HTTP_FILTERS + "lua.v3.LuaPerRoute", "disabled": True}}


def _refuse_all() -> str:
    return "local unchecked = " + _refusal(_UNCHECKED) + _REFUSE_ALL


def _ids(ids: Iterable[str] | None) -> str:
    if ids is None:
        return "nil"
    return "{" + "".join(f"[{_lua(i)}]=true," for i in sorted(ids)) + "}"


def _endpoint(item: EndpointAccess) -> str:
    fields = (
        f"keys={_bool(item.keys)},jwt={_bool(item.jwt)},opaque={_bool(item.opaque)},"
        f"refusal={_refusal(item.refusal)},legacy={_refusal(item.legacy_refusal)}"
    )
    return f"  [{_lua(item.name)}]={{{fields}}},"


def _refusal(refusal: Refusal) -> str:
    headers = [f'[":status"]="{refusal.status}"']
    headers += [
        f"[{_lua(k.decode('latin-1'))}]={_lua(v.decode('latin-1'))}" for k, v in refusal.headers
    ]
    return "{headers={" + ",".join(headers) + "},body=" + _lua(refusal.body.decode("latin-1")) + "}"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _lua(text: str) -> str:
    """A Lua string literal of `text` (Latin-1 code points as bytes): printable ASCII as is,
    everything else, quotes and backslashes as decimal escapes."""
    out = []
    for char in text:
        code = ord(char)
        out.append(char if 32 <= code < 127 and char not in '"\\' else f"\\{code:03d}")
    return '"' + "".join(out) + '"'


_REFUSE_ALL: Final = """
function envoy_on_request(handle)
  handle:respond(unchecked.headers, unchecked.body)
end
"""

_RULES: Final = """
-- Giru's edge check (src/giru/xds/keycheck.py): refuse what the worker surely refuses.
local function endpoint_of(path)
  if path == "/mcp" or path == "/mcp/" then return endpoints[GLOBAL], "" end
  if path == "/sse" or path == "/messages" then return endpoints[GLOBAL], string.sub(path, 2) end
  if string.sub(path, 1, 5) ~= "/mcp/" then return nil, "" end
  local rest = string.sub(path, 6)
  local slash = string.find(rest, "/", 1, true)
  if slash == nil then return endpoints[rest], "" end
  return endpoints[string.sub(rest, 1, slash - 1)], string.sub(rest, slash + 1)
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local method = headers:get(":method")
  if method == "OPTIONS" then return end
  local path = headers:get(":path") or ""
  local mark = string.find(path, "?", 1, true)
  if mark ~= nil then path = string.sub(path, 1, mark - 1) end
  local found, tail = endpoint_of(path)
  if found == nil then return end
  if not (tail == "" or (tail == "sse" and method == "GET")
          or (tail == "messages" and method == "POST")) then
    return
  end
  local refusal = found.refusal
  if tail ~= "" then refusal = found.legacy end
  local token = ""
  local authorization = headers:get("authorization")
  if authorization ~= nil then
    local space = string.find(authorization, " ", 1, true)
    if space ~= nil and string.lower(string.sub(authorization, 1, space - 1)) == "bearer" then
      token = string.match(string.sub(authorization, space + 1), "^%s*(.-)%s*$")
    end
  end
  if token ~= "" then
    if found.opaque then return end
    if found.jwt and string.sub(token, 1, 3) == "eyJ" then
      local _, dots = string.gsub(token, "%.", "")
      if dots == 2 then return end
    end
    if found.keys then
      if ids == nil then return end
      if #token == 60 then
        local ident = string.match(token, "^(giru_[a-z2-7]+)_[A-Za-z0-9_%-]+$")
        if ident ~= nil and #ident == 16 and ids[ident] then return end
      end
    end
  end
  handle:respond(refusal.headers, refusal.body)
end
"""

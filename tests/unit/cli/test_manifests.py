"""Local validation before anything is sent: every problem as file:doc: Kind/name: field: why."""

from __future__ import annotations

from pathlib import Path

import pytest

from giru.cli.manifests import read_local, validate_body
from giru.errors import ConfigError, ValidationError

REPO = Path(__file__).resolve().parents[3]
HEADER = "apiVersion: giru.ai/v1alpha1\n"


def doc(kind: str, name: str, spec: str) -> str:
    return HEADER + f"kind: {kind}\nmetadata: {{name: {name}}}\nspec: {spec}\n"


def problems(*paths: Path) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        read_local(list(paths))
    return list(caught.value.data["problems"])


def test_the_example_manifests_read_in_file_order_as_canonical_documents() -> None:
    documents = read_local([REPO / "examples" / "manifests"])
    assert [(d.kind, d.name) for d in documents][:4] == [
        ("Client", "analyst"),
        ("Client", "ci"),
        ("Client", "platform-admin"),
        ("MCPServer", "filesystem"),
    ]
    assert len(documents) == 13
    github = next(d for d in documents if d.name == "github")
    assert github.source.endswith("servers.yaml:2")
    spec = github.spec()
    assert spec["timeouts"] == {"connect": 2.5, "call": 45.0, "callMax": 600.0}
    assert spec["auth"]["secretRef"]["name"] == "github-token"  # resolved server-side
    assert github.body()["metadata"] == {"name": "github"}


def test_references_and_environment_variables_are_left_to_the_server(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        doc("Subscription", "s", "{client: nobody, server: nothing, scopeType: all}")
        + "---\n"
        + doc("Client", "c", "{apiKeyEnv: UNSET_HERE}")
    )
    assert [d.name for d in read_local([tmp_path])] == ["s", "c"]


def test_every_problem_in_every_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        doc("MCPServer", "web", "{transport: streamable-http}")
        + "---\n"
        + doc("Subscription", "s", "{client: c, server: web, burst: 2, scopeType: all}")
        + "---\n"
        + doc("Environment", "qa", "{displayName: 7}")
    )
    (tmp_path / "b.yml").write_text(doc("Client", "c", "{servers: [web], color: blue}"))
    (tmp_path / "ignored.txt").write_text("not: [yaml")
    a, b = tmp_path / "a.yaml", tmp_path / "b.yml"
    assert problems(tmp_path) == [
        f"{a}:1: MCPServer/web: spec.url: required when transport is streamable-http",
        f"{a}:2: Subscription/s: spec.burst: needs spec.rateLimitRps",
        f"{a}:3: Environment/qa: spec.displayName: must be a valid string",
        f"{b}:1: Client/c: spec.color: unknown field",
    ]


def test_the_same_object_twice_is_a_problem(tmp_path: Path) -> None:
    text = doc("Client", "c", "{}")
    (tmp_path / "one.yaml").write_text(text)
    (tmp_path / "two.yaml").write_text("---\n---\n" + text)
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    assert problems(one, two) == [f"{two}:2: Client/c: metadata.name: duplicate of {one}:1"]


def test_yaml_errors_name_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(doc("Client", "c", "{}") + "---\nkind: [\n")
    (found,) = problems(tmp_path / "m.yaml")
    assert found.startswith(f"{tmp_path / 'm.yaml'}: line 7, column 1: invalid YAML")


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(doc("Client", "c", "{servers: [a], servers: [b]}"))
    (found,) = problems(tmp_path / "m.yaml")
    assert "found duplicate key 'servers'" in found


def test_empty_documents_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("---\n---\n" + doc("Client", "c", "{}") + "---\n")
    assert [d.source for d in read_local([tmp_path / "m.yaml"])] == [f"{tmp_path / 'm.yaml'}:2"]


def test_a_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or directory"):
        read_local([tmp_path / "nope"])


def test_a_document_built_from_flags_is_validated_the_same_way() -> None:
    body = {"apiVersion": "giru.ai/v1alpha1", "kind": "MCPServer"}
    with pytest.raises(ValidationError) as caught:
        validate_body(
            {**body, "metadata": {"name": "web"}, "spec": {"transport": "stdio", "url": "http://x"}}
        )
    assert caught.value.data["problems"] == [
        "MCPServer/web: spec.command: required when transport is stdio",
        "MCPServer/web: spec.url: not allowed when transport is stdio",
    ]

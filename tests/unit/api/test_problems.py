"""problem+json rendering and the translation of validation errors into field paths."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from giru.api.problems import describe_errors, problem_response, problems
from giru.manifests.documents import SubscriptionSpec


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", strict=True)

    spec: SubscriptionSpec
    tags: dict[str, int] = Field(default_factory=dict)


def _errors(value: dict[str, Any]) -> list[ErrorDetails]:
    with pytest.raises(PydanticValidationError) as caught:
        _Body.model_validate(value)
    return [{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()]


def _spec(**fields: Any) -> dict[str, Any]:
    return {"spec": {"client": "ana", "server": "files", **fields}}


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (_spec(scopeTools=["ok", "not ok"]), "spec.scopeTools[1]", "a tool name is"),
        (_spec(colour="red"), "spec.colour", "unknown field"),
        ({"spec": {"client": "ana"}}, "spec.server", "required"),
        (_spec(scopeType="some"), "spec.scopeType", "must be 'all' or 'selective'"),
        (_spec(burst="9"), "spec.burst", "must be a valid integer"),
        ({**_spec(), "tags": {"a": "1"}}, "tags.a", "must be a valid integer"),
    ],
)
def test_validation_errors_get_camel_case_field_paths(
    body: dict[str, Any], field: str, reason: str
) -> None:
    [described] = describe_errors(_errors(body))

    assert described["field"] == field
    assert described["reason"].startswith(reason)


def test_json_syntax_errors_point_at_the_body() -> None:
    error: ErrorDetails = {
        "type": "json_invalid",
        "loc": ("body", 12),
        "msg": "JSON decode error",
        "input": {},
        "ctx": {"error": "Expecting value"},
    }

    assert describe_errors([error]) == [
        {"field": "body", "reason": "invalid JSON: Expecting value"}
    ]


def test_a_problem_has_the_rfc_9457_members_and_media_type() -> None:
    response = problem_response(404, "not_found", "no MCPServer named 'x'")

    assert response.media_type == "application/problem+json"
    assert json.loads(bytes(response.body)) == {
        "type": "https://giru.dev/problems/not_found",
        "title": "Not found",
        "status": 404,
        "detail": "no MCPServer named 'x'",
        "code": "not_found",
    }


def test_401_problems_carry_the_bearer_challenge() -> None:
    response = problem_response(401, "unauthenticated", "who are you?")

    assert response.headers["www-authenticate"] == 'Bearer realm="giru"'


def test_field_errors_are_listed_when_given() -> None:
    errors = [{"field": "spec.url", "reason": "required"}]

    response = problem_response(422, "validation_failed", "1 invalid field", errors=errors)

    assert json.loads(bytes(response.body))["errors"] == errors


def test_declared_problem_responses_refer_to_the_problem_schema() -> None:
    declared = problems(401, 409)

    assert set(declared) == {401, 409}
    content = declared[409]["content"]
    assert content == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    assert "WWW-Authenticate" in declared[401]["headers"]

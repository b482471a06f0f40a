"""How the authorization server keeps a `giru.identity.Person` in its codes, refresh-token
families and sealed sign-ins: a JSON object."""

from __future__ import annotations

import dataclasses
from typing import Any

from giru.identity.people import Person

__all__ = ["person_from_json", "person_json"]


def person_json(person: Person) -> dict[str, Any]:
    value = dataclasses.asdict(person)
    value["groups"], value["amr"] = list(person.groups), list(person.amr)
    return value


def person_from_json(value: dict[str, Any]) -> Person:
    return Person(
        issuer=str(value["issuer"]),
        subject=str(value["subject"]),
        email=value.get("email"),
        name=value.get("name"),
        groups=tuple(value.get("groups") or ()),
        amr=tuple(value.get("amr") or ()),
        auth_time=value.get("auth_time"),
    )

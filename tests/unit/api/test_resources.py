"""Pure pieces of the resource routes: ETags and `If-Match`, the kinds table."""

from __future__ import annotations

import pytest

from giru.api.resources import KINDS, etag, expected_version
from giru.errors import PreconditionFailedError
from giru.manifests.documents import KINDS as MANIFEST_KINDS


@pytest.mark.parametrize(
    ("header", "version"),
    [(None, None), ("*", None), (" * ", None), ('"7"', 7), ('W/"12"', 12), (' "3" ', 3)],
)
def test_if_match_names_the_expected_version(header: str | None, version: int | None) -> None:
    assert expected_version(header) == version


@pytest.mark.parametrize("header", ["7", '"x"', '""', '"*"', '"1", "2"', "W/7", '"-1"'])
def test_if_match_values_that_cannot_match_are_412(header: str) -> None:
    with pytest.raises(PreconditionFailedError):
        expected_version(header)


def test_etags_are_quoted_versions() -> None:
    assert etag(3) == '"3"'
    assert expected_version(etag(3)) == 3


def test_every_manifest_kind_has_routes() -> None:
    assert {routes.kind for routes in KINDS} == set(MANIFEST_KINDS)
    assert len({routes.path for routes in KINDS}) == len(KINDS)

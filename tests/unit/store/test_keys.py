"""Keys the store keeps: HMAC-SHA256 under the server's pepper, and tool definition hashes."""

from __future__ import annotations

import hashlib
import hmac

from giru.access.apikeys import hmac_hash
from giru.errors import ConflictError, PreconditionFailedError
from giru.store.catalog import definition_hash


def test_hmac_hash_is_keyed_by_the_pepper() -> None:
    digest = hmac_hash("giru_key", b"pepper")
    expected = hmac.new(b"pepper", b"giru_key", hashlib.sha256).hexdigest()
    assert digest == f"hmac-sha256:{expected}"
    assert hmac_hash("giru_key", b"other") != digest
    assert hmac_hash("giru_kez", b"pepper") != digest


def test_definition_hash_ignores_key_order_but_not_content() -> None:
    one = {"name": "a", "inputSchema": {"type": "object", "properties": {}}}
    two = {"inputSchema": {"properties": {}, "type": "object"}, "name": "a"}
    assert definition_hash(one) == definition_hash(two)
    assert definition_hash(one) != definition_hash({**one, "description": "x"})
    assert definition_hash({"name": "é"}) == hashlib.sha256('{"name":"é"}'.encode()).hexdigest()


def test_conflict_codes_default_to_already_exists() -> None:
    assert ConflictError("x").code == "already_exists"
    assert ConflictError("x", code="in_use", data={"usedBy": []}).code == "in_use"
    assert ConflictError.code == "already_exists"
    assert PreconditionFailedError("x").code == "precondition_failed"

"""The web console's IdP sign-in, in Debian's Chromium (web/e2e/ui.mjs, scenarios `idp-sign-in`
and `idp-state-mismatch`): Giru's authorization server in front of the real oidc-provider
(tests/integration/identity/broker.py), the admin role from group `admins`, viewers from
`billing`. A person clicks "Sign in with company", signs in at the IdP's form, allows the console
on Giru's consent page and lands on the page they started from, with the role their groups grant.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.gateway import wait_until
from tests.integration.identity.broker import BrokeredGiru, brokered_giru
from tests.web import CHROMIUM, WEB, require_web, run_node

pytestmark = pytest.mark.integration

START = "/ui/clients?from=e2e"
TOKEN_KEYS = ["giru.adminToken", "giru.sso.client", "giru.sso.grant"]


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokeredGiru]:
    require_web(CHROMIUM, WEB / "node_modules" / "playwright-core")
    workdir = tmp_path_factory.mktemp("ui-sign-in")
    with brokered_giru(workdir, admin_group="admins", viewer_group="billing") as running:
        yield running


def _in_chromium(giru: BrokeredGiru, scenario: str, login: str, **env: str) -> dict[str, Any]:
    result = run_node(
        ["e2e/ui.mjs", scenario],
        timeout=120.0,
        env={
            "GIRU_URL": giru.issuer,
            "GIRU_LOGIN": login,
            "GIRU_PASSWORD": giru.idp.users[login].password,
            "GIRU_PAGE": START,
            **env,
        },
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert isinstance(seen, dict)
    return seen


def _grant_types(giru: BrokeredGiru, person: str) -> set[str]:
    return {
        str(item["details"].get("grant_type"))
        for item in giru.audit(action="oauth/token", actor=person)
    }


def _keeps_tokens_in_session_storage_only(seen: dict[str, Any]) -> None:
    assert seen["localKeys"] == [], seen
    assert not any("token" in name.lower() for name in seen["cookies"]), seen


def test_an_admin_group_member_signs_in_with_the_idp_and_sees_admin_controls(
    giru: BrokeredGiru,
) -> None:
    seen = _in_chromium(giru, "idp-sign-in", "carol", GIRU_EXPIRE="1")  # groups: admins, nurses
    assert seen["offered"] == "Sign in with company", seen
    assert seen["landed"] == START, seen
    assert seen["whoami"] == "user:carol@hospital.example (admin)", seen
    assert seen["newClient"] == 1, seen
    assert seen["authorizations"] == ["Bearer JWT"], seen
    assert [key for key in seen["sessionKeys"] if key.startswith("giru.")] == TOKEN_KEYS, seen
    _keeps_tokens_in_session_storage_only(seen)
    refreshed = seen["refreshed"]
    assert refreshed == {
        "tokenChanged": True,
        "refreshRotated": True,
        "stillDue": False,
        "sentNew": True,
        "whoami": "user:carol@hospital.example (admin)",
    }, seen
    wait_until(
        lambda: (
            _grant_types(giru, "carol@hospital.example") >= {"authorization_code", "refresh_token"}
        ),
        "carol's code redemption and refresh in the audit log",
    )


def test_a_person_outside_the_admin_group_is_a_viewer_without_mutating_controls(
    giru: BrokeredGiru,
) -> None:
    seen = _in_chromium(giru, "idp-sign-in", "bob")  # groups: billing
    assert seen["whoami"] == "user:bob@hospital.example (viewer)", seen
    assert seen["landed"] == START, seen
    assert seen["newClient"] == 0, seen
    _keeps_tokens_in_session_storage_only(seen)


def test_a_person_no_group_allows_is_told_so_and_nothing_is_kept(giru: BrokeredGiru) -> None:
    seen = _in_chromium(giru, "idp-sign-in", "alice")  # groups: nurses
    assert "you may not use the Giru console" in seen["error"], seen
    assert "no IdP group" in seen["error"], seen
    assert "giru.adminToken" not in seen["sessionKeys"], seen
    assert seen["at"] == giru.url("/ui/signin/callback"), seen  # the code left the address bar


def test_a_denied_consent_is_explained_and_nothing_is_kept(giru: BrokeredGiru) -> None:
    seen = _in_chromium(giru, "idp-sign-in", "carol", GIRU_DECISION="Deny")
    assert seen["error"].startswith("The sign-in was refused or cancelled."), seen
    assert "giru.adminToken" not in seen["sessionKeys"], seen


def test_an_answer_with_another_state_is_refused_and_its_code_never_redeemed(
    giru: BrokeredGiru,
) -> None:
    seen = _in_chromium(giru, "idp-state-mismatch", "carol")
    assert "state mismatch" in seen["unstarted"]["error"], seen
    assert "state mismatch" in seen["mismatched"], seen
    assert seen["tokenRequests"] == 0, seen
    assert seen["back"] == "/ui/signin?next=%2Fui%2Fclients", seen
    assert "giru.adminToken" not in seen["sessionKeys"], seen
    _keeps_tokens_in_session_storage_only(seen)

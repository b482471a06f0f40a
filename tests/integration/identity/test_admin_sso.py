"""Admins sign in with the company IdP (`giru login --sso`): the CLI's loopback flow against
Giru's authorization server and the real oidc-provider; the role comes from IdP groups.

The browser is played over HTTP in a thread: it follows the authorization URL to the IdP, posts
the sign-in form, posts Giru's consent form and delivers the code to the CLI's loopback listener.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
from typer.testing import CliRunner, Result

from giru.cli.main import app
from giru.cli.sso import sign_in
from giru.errors import UnauthenticatedError
from tests.integration.identity.broker import ADMIN_TOKEN, BrokeredGiru, brokered_giru

pytestmark = pytest.mark.integration

_FORM_FIELD = re.compile(r'<input type="hidden" name="(flow|csrf)" value="([^"]+)">')


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokeredGiru]:
    workdir = tmp_path_factory.mktemp("admin-sso")
    with brokered_giru(workdir, admin_group="admins", viewer_group="billing") as running:
        yield running


class Browser:
    """Plays the person at the browser: signs `login` in and answers the consent page."""

    def __init__(self, giru: BrokeredGiru, login: str, decision: str = "allow") -> None:
        self._giru, self._login, self._decision = giru, login, decision
        self._thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    def __call__(self, url: str) -> None:
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()

    def _run(self, url: str) -> None:
        try:
            with httpx.Client() as http:
                consent = self._giru.idp.sign_in_at(
                    http, url, self._login, stop_at=self._giru.url("/oauth/consent")
                )
                form = dict(_FORM_FIELD.findall(http.get(consent).text))
                answered = http.post(
                    self._giru.url("/oauth/consent"), data={**form, "decision": self._decision}
                )
                assert answered.status_code == 303, answered.text
                http.get(answered.headers["location"])  # to the CLI's loopback listener
        except BaseException as exc:  # reported by join()
            self.failure = exc

    def join(self) -> None:
        assert self._thread is not None, "the sign-in page was never opened"
        self._thread.join(30)
        assert self.failure is None, self.failure


def signed_in(giru: BrokeredGiru, login: str) -> str:
    browser = Browser(giru, login)
    token = sign_in(giru.issuer, browser, timeout_s=30).access_token
    browser.join()
    return token


def cli(giru: BrokeredGiru, token: str, *args: str) -> Result:
    env = {"GIRU_API_URL": giru.issuer, "GIRU_TOKEN": token}
    return CliRunner(env=env).invoke(app, list(args))


def test_a_person_in_the_admin_group_can_list_servers(giru: BrokeredGiru) -> None:
    token = signed_in(giru, "carol")  # groups: admins, nurses
    listed = cli(giru, token, "get", "servers")
    assert listed.exit_code == 0, listed.output
    me = cli(giru, token, "whoami")
    assert me.stdout.startswith("user:carol@hospital.example (admin)"), me.output


def test_a_person_in_no_role_group_is_refused_with_403(giru: BrokeredGiru) -> None:
    token = signed_in(giru, "alice")  # groups: nurses
    refused = cli(giru, token, "get", "servers")
    assert refused.exit_code == 4, refused.output
    assert "no IdP group" in refused.stderr
    status = httpx.get(giru.url("/api/v1/whoami"), headers={"authorization": f"Bearer {token}"})
    assert status.status_code == 403


def test_a_person_in_the_viewer_group_reads_but_may_not_write(giru: BrokeredGiru) -> None:
    token = signed_in(giru, "bob")  # groups: billing
    assert cli(giru, token, "get", "servers").exit_code == 0
    headers = {"authorization": f"Bearer {token}"}
    written = httpx.post(giru.url("/api/v1/admin-keys"), json={"name": "x"}, headers=headers)
    assert written.status_code == 403


def test_a_token_minted_for_the_mcp_endpoint_is_refused_at_the_api(giru: BrokeredGiru) -> None:
    client_id = giru.register()["client_id"]
    with httpx.Client() as http:
        authorization = giru.authorize(http, client_id, "carol")
    mcp_token = giru.redeem(client_id, authorization).json()["access_token"]
    refused = httpx.get(
        giru.url("/api/v1/whoami"), headers={"authorization": f"Bearer {mcp_token}"}
    )
    assert refused.status_code == 401


def test_the_sign_in_options_name_the_idp_and_giru_s_endpoints_without_auth(
    giru: BrokeredGiru,
) -> None:
    offered = httpx.get(giru.url("/api/v1/sign-in"))
    assert offered.status_code == 200, offered.text
    metadata = httpx.get(giru.url("/.well-known/oauth-authorization-server")).json()
    assert offered.json() == {
        "identityProvider": {
            "name": "company",
            "issuer": metadata["issuer"],
            "authorizationEndpoint": metadata["authorization_endpoint"],
            "tokenEndpoint": metadata["token_endpoint"],
            "registrationEndpoint": metadata["registration_endpoint"],
            "revocationEndpoint": metadata["revocation_endpoint"],
            "resource": giru.url("/api"),
        }
    }


def test_the_bootstrap_admin_token_keeps_working(giru: BrokeredGiru) -> None:
    assert cli(giru, ADMIN_TOKEN, "whoami").stdout.startswith("bootstrap (admin)")


def test_a_refused_consent_is_reported_and_yields_no_token(giru: BrokeredGiru) -> None:
    browser = Browser(giru, "carol", decision="deny")
    with pytest.raises(UnauthenticatedError, match="sign-in refused"):
        sign_in(giru.issuer, browser, timeout_s=30)
    browser.join()


def test_an_abandoned_sign_in_times_out(giru: BrokeredGiru) -> None:
    opened: list[str] = []
    browse: Callable[[str], object] = opened.append
    with pytest.raises(UnauthenticatedError, match="no sign-in within"):
        sign_in(giru.issuer, browse, timeout_s=0.5)
    assert opened[0].startswith(giru.url("/oauth/authorize?"))

"""Bad input at Giru's authorization server: a clear error, nothing granted, no secret logged.

Errors before the client and its redirect URI are checked are pages (never a redirect to an
unchecked URI); after that they go back to the registered redirect URI with `state` and `iss`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from giru.identity.broker.tokens import digest
from tests.idp import pkce_pair
from tests.integration.gateway import wait_until
from tests.integration.identity.broker import CLIENT_REDIRECT, BrokeredGiru, brokered_giru

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def giru(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokeredGiru]:
    workdir = tmp_path_factory.mktemp("bad-input-broker")
    with brokered_giru(workdir, registrations_per_minute=1000, document_timeout_s=1.0) as running:
        yield running


@pytest.fixture(scope="module")
def client_id(giru: BrokeredGiru) -> str:
    client_id = giru.register()["client_id"]
    assert isinstance(client_id, str)
    return client_id


def _query(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


def _authorize(giru: BrokeredGiru, client_id: str, **params: str) -> httpx.Response:
    _verifier, challenge = pkce_pair()
    query = {
        "redirect_uri": CLIENT_REDIRECT,
        "state": "st-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    return httpx.get(giru.authorize_url(client_id, **{k: v for k, v in query.items() if v}))


def _assert_redirected_error(response: httpx.Response, giru: BrokeredGiru, error: str) -> None:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(CLIENT_REDIRECT + "?")
    params = _query(location)
    assert params["error"] == [error]
    assert params["state"] == ["st-1"]
    assert params["iss"] == [giru.issuer]
    assert "code" not in params


def _assert_page(response: httpx.Response, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in response.text


# PKCE


@pytest.mark.parametrize(
    ("challenge", "method"),
    [("", "S256"), (None, None), ("plain-challenge-" + "x" * 40, "plain"), ("same", "")],
    ids=["missing challenge", "missing both", "plain", "no method"],
)
def test_authorization_without_pkce_s256_is_refused_at_the_registered_redirect_uri(
    giru: BrokeredGiru, client_id: str, challenge: str | None, method: str | None
) -> None:
    params = {"code_challenge": challenge or "", "code_challenge_method": method or ""}
    if challenge is None:
        params = {"code_challenge": "", "code_challenge_method": ""}
    response = _authorize(giru, client_id, **params)
    _assert_redirected_error(response, giru, "invalid_request")


def test_a_wrong_code_verifier_is_refused_and_burns_the_code(
    giru: BrokeredGiru, client_id: str
) -> None:
    with httpx.Client() as http:
        authorization = giru.authorize(http, client_id)
    wrong, _ = pkce_pair()
    refused = giru.redeem(client_id, authorization, code_verifier=wrong)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert refused.headers["cache-control"] == "no-store"
    again = giru.redeem(client_id, authorization)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_a_replayed_code_is_refused_and_revokes_what_it_issued(
    giru: BrokeredGiru, client_id: str
) -> None:
    with httpx.Client() as http:
        authorization = giru.authorize(http, client_id, "carol")
    first = giru.redeem(client_id, authorization)
    assert first.status_code == 200
    replay = giru.redeem(client_id, authorization)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": first.json()["refresh_token"],
        "client_id": client_id,
    }
    assert giru.token(refresh).json()["error"] == "invalid_grant"
    # The module's client has replays of its own (a burnt code redeemed again): find this one's.
    code_sha256 = digest(authorization.code)
    records: list[dict[str, Any]] = []

    def recorded() -> bool:
        records[:] = giru.audit(action="oauth/code_replay", target=client_id)
        return any(r["details"]["code_sha256"] == code_sha256 for r in records)

    wait_until(recorded, "the code_replay audit record of this code")
    assert authorization.code not in json.dumps(records)


def test_a_code_is_refused_to_another_client(giru: BrokeredGiru, client_id: str) -> None:
    other = giru.register()["client_id"]
    with httpx.Client() as http:
        authorization = giru.authorize(http, client_id)
    stolen = giru.redeem(other, authorization)
    assert stolen.json()["error"] == "invalid_grant"


# redirect URIs


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "http://127.0.0.1:1/callback/../../evil",
        "http://127.0.0.1:1/callback?next=https://evil.example",
        "http://127.0.0.1:2/callback",
        "http://127.0.0.1:1/CALLBACK",
        "javascript:alert(1)",
        "//evil.example/callback",
    ],
)
def test_an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(
    giru: BrokeredGiru, client_id: str, redirect_uri: str
) -> None:
    _assert_page(_authorize(giru, client_id, redirect_uri=redirect_uri))


def test_an_unknown_client_gets_an_error_page(giru: BrokeredGiru) -> None:
    _assert_page(_authorize(giru, "giru_client_nobody"))


def test_repeated_parameters_get_an_error_page(giru: BrokeredGiru, client_id: str) -> None:
    url = giru.authorize_url(client_id, redirect_uri=CLIENT_REDIRECT)
    _assert_page(httpx.get(url + "&redirect_uri=https%3A%2F%2Fevil.example%2F"))


def test_a_resource_that_is_not_an_mcp_endpoint_of_giru_is_refused(
    giru: BrokeredGiru, client_id: str
) -> None:
    response = _authorize(giru, client_id, resource="https://other.example/mcp")
    _assert_redirected_error(response, giru, "invalid_target")


def test_an_unknown_scope_is_refused(giru: BrokeredGiru, client_id: str) -> None:
    _assert_redirected_error(_authorize(giru, client_id, scope="mcp admin"), giru, "invalid_scope")


# state and the sealed sign-in


def test_the_client_state_comes_back_exactly(giru: BrokeredGiru, client_id: str) -> None:
    with httpx.Client() as http:
        authorization = giru.authorize(http, client_id)
    assert authorization.params["state"] == [authorization.state]


def test_a_tampered_or_foreign_idp_state_gets_an_error_page(
    giru: BrokeredGiru, client_id: str
) -> None:
    with httpx.Client() as http:
        started = http.get(_authorize(giru, client_id).url)
        assert started.status_code == 302
        sealed = _query(started.headers["location"])["state"][0]
        flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
        tampered = http.get(giru.url("/oauth/idp/callback"), params={"state": flipped, "code": "x"})
        _assert_page(tampered)
    # the real state, from a browser that did not start the sign-in (no cookie)
    foreign = httpx.get(giru.url("/oauth/idp/callback"), params={"state": sealed, "code": "x"})
    _assert_page(foreign)


def test_an_idp_error_goes_back_to_the_client_as_access_denied(
    giru: BrokeredGiru, client_id: str
) -> None:
    with httpx.Client() as http:
        started = http.get(_authorize(giru, client_id).url)
        sealed = _query(started.headers["location"])["state"][0]
        denied = http.get(
            giru.url("/oauth/idp/callback"), params={"state": sealed, "error": "access_denied"}
        )
    assert denied.status_code == 303
    params = _query(denied.headers["location"])
    assert params["error"] == ["access_denied"]
    assert params["state"] == ["st-1"]


# consent


def test_consent_without_the_csrf_token_is_refused(giru: BrokeredGiru, client_id: str) -> None:
    _verifier, challenge = pkce_pair()
    with httpx.Client() as http:
        form = giru.consent_form(
            http,
            client_id,
            "alice",
            redirect_uri=CLIENT_REDIRECT,
            state="s",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
        real = form["csrf"]
        # the real token with its last hex digit changed (never to itself)
        near = real[:-1] + ("1" if real[-1] == "0" else "0")
        for csrf in ("", "0" * 64, near):
            forged = http.post(
                giru.url("/oauth/consent"),
                data={"flow": form["flow"], "csrf": csrf, "decision": "allow"},
            )
            _assert_page(forged, 403)
    # another browser (no sign-in cookie) posting the whole form
    cross_site = httpx.post(giru.url("/oauth/consent"), data={**form, "decision": "allow"})
    _assert_page(cross_site)


def test_consent_is_answered_once(giru: BrokeredGiru, client_id: str) -> None:
    _verifier, challenge = pkce_pair()
    with httpx.Client() as http:
        form = giru.consent_form(
            http,
            client_id,
            "alice",
            redirect_uri=CLIENT_REDIRECT,
            state="s",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
        first = http.post(giru.url("/oauth/consent"), data={**form, "decision": "allow"})
        assert first.status_code == 303
        second = http.post(giru.url("/oauth/consent"), data={**form, "decision": "allow"})
    _assert_page(second)


def test_a_denied_consent_sends_access_denied(giru: BrokeredGiru, client_id: str) -> None:
    with httpx.Client() as http:
        authorization = giru.authorize(http, client_id, decision="deny")
    assert authorization.params["error"] == ["access_denied"]
    assert "code" not in authorization.params


# refresh tokens


def test_refresh_token_reuse_after_rotation_revokes_the_family_and_is_audited(
    giru: BrokeredGiru, client_id: str
) -> None:
    with httpx.Client() as http:
        authorization = giru.authorize(http, client_id, "bob")
    first = giru.redeem(client_id, authorization).json()["refresh_token"]
    form = {"grant_type": "refresh_token", "client_id": client_id}
    rotated = giru.token({**form, "refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    reused = giru.token({**form, "refresh_token": first})
    assert reused.json()["error"] == "invalid_grant"
    assert giru.token({**form, "refresh_token": second}).json()["error"] == "invalid_grant"
    records = giru.wait_for_audit("oauth/refresh_reuse", actor="bob@hospital.example")
    assert records[0]["outcome"] == "forbidden"
    assert records[0]["details"]["refresh_token_sha256"] == digest(first)
    assert first not in json.dumps(giru.audit())


def test_another_clients_refresh_token_is_refused_and_left_alone(
    giru: BrokeredGiru, client_id: str
) -> None:
    with httpx.Client() as http:
        authorization = giru.authorize(http, client_id)
    token = giru.redeem(client_id, authorization).json()["refresh_token"]
    thief = giru.register()["client_id"]
    stolen = {"grant_type": "refresh_token", "client_id": thief, "refresh_token": token}
    assert giru.token(stolen).json()["error"] == "invalid_grant"
    owner = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": token}
    assert giru.token(owner).status_code == 200


# the token endpoint itself


@pytest.mark.parametrize(
    ("body", "headers", "error"),
    [
        ("grant_type=password&username=a&password=b", {}, "unsupported_grant_type"),
        ("grant_type=authorization_code&code=a&code=b", {}, "invalid_request"),
        (
            '{"grant_type":"authorization_code"}',
            {"content-type": "application/json"},
            "invalid_request",
        ),
        ("grant_type=authorization_code&code=nope", {}, "invalid_client"),
    ],
    ids=["password grant", "repeated code", "json body", "no client"],
)
def test_malformed_token_requests_get_rfc6749_errors(
    giru: BrokeredGiru, body: str, headers: dict[str, str], error: str
) -> None:
    sent = {"content-type": "application/x-www-form-urlencoded", **headers}
    response = httpx.post(giru.url("/oauth/token"), content=body, headers=sent)
    assert response.status_code in (400, 401)
    assert response.json()["error"] == error


def test_a_confidential_client_with_a_wrong_secret_is_refused(giru: BrokeredGiru) -> None:
    registered = giru.register(token_endpoint_auth_method="client_secret_basic")
    form = {"grant_type": "authorization_code", "code": "giru_ac_x"}
    wrong = giru.token(form, auth=(registered["client_id"], registered["client_secret"] + "x"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    right = giru.token(form, auth=(registered["client_id"], registered["client_secret"]))
    assert right.json()["error"] == "invalid_grant"


# dynamic registration


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "javascript:alert(document.cookie)",
        "http://evil.example/callback",
        "http://192.168.1.10/callback",
        "data:text/html,<script>alert(1)</script>",
        "https://app.example/callback#fragment",
        "https://user@app.example/callback",
        "file:///etc/passwd",
        "/relative/callback",
    ],
)
def test_registration_refuses_redirect_uris_that_are_not_https_or_loopback_http(
    giru: BrokeredGiru, redirect_uri: str
) -> None:
    response = httpx.post(giru.url("/oauth/register"), json={"redirect_uris": [redirect_uri]})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"


@pytest.mark.parametrize(
    "body",
    [
        {"redirect_uris": []},
        {"redirect_uris": "http://127.0.0.1/cb"},
        {"redirect_uris": [CLIENT_REDIRECT], "grant_types": ["client_credentials"]},
        {"redirect_uris": [CLIENT_REDIRECT], "token_endpoint_auth_method": "private_key_jwt"},
        {"redirect_uris": [CLIENT_REDIRECT], "client_name": "x" * 1000},
        [CLIENT_REDIRECT],
    ],
    ids=["empty", "not a list", "grant", "auth method", "long name", "not an object"],
)
def test_registration_refuses_bad_metadata(giru: BrokeredGiru, body: Any) -> None:
    response = httpx.post(giru.url("/oauth/register"), json=body)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_client_metadata", "invalid_redirect_uri")


def test_registrations_are_limited_per_address(tmp_path_factory: pytest.TempPathFactory) -> None:
    with brokered_giru(tmp_path_factory.mktemp("dcr-limit"), registrations_per_minute=3) as small:
        for _ in range(3):
            small.register()
        refused = httpx.post(
            small.url("/oauth/register"), json={"redirect_uris": [CLIENT_REDIRECT]}
        )
    assert refused.status_code == 429
    assert refused.json()["error"] == "slow_down"


# client ID metadata documents


class _Documents(BaseHTTPRequestHandler):
    release = threading.Event()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        url = f"http://127.0.0.1:{self.server.server_port}{self.path}"  # type: ignore[attr-defined]
        document: dict[str, Any] = {
            "client_id": url,
            "client_name": "Document Client",
            "redirect_uris": [CLIENT_REDIRECT],
            "token_endpoint_auth_method": "none",
        }
        if self.path == "/missing.json":
            self.send_error(404)
            return
        if self.path == "/slow.json":
            self.release.wait(timeout=10)
        if self.path == "/redirect.json":
            self.send_response(302)
            self.send_header("Location", "http://10.0.0.1/client.json")
            self.end_headers()
            return
        if self.path == "/other.json":
            document["client_id"] = "https://someone.example/client.json"
        if self.path == "/huge.json":
            document["padding"] = "x" * 100_000
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except BrokenPipeError:  # Giru gave up on a slow document, as it should
            return


@pytest.fixture(scope="module")
def documents() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Documents)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        _Documents.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_client_named_by_a_good_metadata_document_is_sent_to_sign_in(
    giru: BrokeredGiru, documents: str
) -> None:
    response = _authorize(giru, f"{documents}/good.json")
    assert response.status_code == 302
    assert response.headers["location"].startswith(giru.idp.issuer)


@pytest.mark.parametrize(
    "path", ["/huge.json", "/slow.json", "/redirect.json", "/other.json", "/missing.json"]
)
def test_a_bad_client_metadata_document_gets_an_error_page(
    giru: BrokeredGiru, documents: str, path: str
) -> None:
    _assert_page(_authorize(giru, f"{documents}{path}"))


@pytest.mark.parametrize(
    "client_id",
    ["https://10.0.0.1/client.json", "https://169.254.169.254/latest/meta-data", "https://[::1]/c"],
)
def test_a_metadata_document_at_a_private_address_is_never_fetched(
    giru: BrokeredGiru, client_id: str
) -> None:
    _assert_page(_authorize(giru, client_id))

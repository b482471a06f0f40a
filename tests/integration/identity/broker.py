"""Giru's authorization server for tests: the real `GiruApp` served by uvicorn on a free port
(in a thread with its own event loop), its sign-in brokered to the real oidc-provider peer.

`BrokeredGiru` drives the browser side without a browser (the IdP's sign-in form and Giru's
consent form are posted over HTTP) and reads the audit log through the admin API.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import uvicorn
from pydantic import SecretStr

from giru.app import GiruApp
from giru.manifests import load
from giru.settings import (
    HttpSettings,
    IdentitySettings,
    MeteringSettings,
    PolicySettings,
    Settings,
)
from tests.idp import CONFIDENTIAL_CLIENT, IdentityProviderPeer, pkce_pair, start_identity_provider
from tests.integration.gateway import wait_until
from tests.peers import free_port

ADMIN_TOKEN = "broker-admin-token-0123456789abcdef"
_SECRET_VARIABLE = "GIRU_TEST_BROKER_IDP_SECRET"
_IDENTITY_PROVIDER = """
apiVersion: giru.ai/v1alpha1
kind: IdentityProvider
metadata: {{name: company}}
spec:
  issuer: {issuer}
  clientId: {client}
  clientSecret: ${{GIRU_TEST_BROKER_IDP_SECRET}}
  scopes: [openid, email, profile, groups]
  mode: broker
"""
CLIENT_REDIRECT = "http://127.0.0.1:1/callback"  # never contacted: flows stop at the redirect
_FORM_FIELD = re.compile(r'<input type="hidden" name="(flow|csrf)" value="([^"]+)">')


@dataclass
class Authorization:
    """A finished authorization request: where the browser was sent back to, and the PKCE
    verifier and state the client used."""

    location: str
    verifier: str
    state: str

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.location).query)

    @property
    def code(self) -> str:
        return self.params["code"][0]


@dataclass
class BrokeredGiru:
    issuer: str
    idp: IdentityProviderPeer
    workdir: Path

    def url(self, path: str) -> str:
        return self.issuer + path

    @property
    def mcp(self) -> str:
        return self.issuer + "/mcp"

    def register(self, redirect_uris: Sequence[str] = (CLIENT_REDIRECT,), **extra: Any) -> Any:
        body = {"redirect_uris": list(redirect_uris), "token_endpoint_auth_method": "none"}
        response = httpx.post(self.url("/oauth/register"), json={**body, **extra})
        assert response.status_code == 201, response.text
        return response.json()

    def authorize_url(self, client_id: str, **params: str) -> str:
        query = {"response_type": "code", "client_id": client_id, **params}
        return self.url("/oauth/authorize?" + urlencode(query))

    def consent_form(
        self, http: httpx.Client, client_id: str, login: str, **params: str
    ) -> dict[str, str]:
        """Signs `login` in at the IdP through Giru and returns Giru's consent form fields."""
        return self.consent_form_at(http, self.authorize_url(client_id, **params), login)

    def consent_form_at(self, http: httpx.Client, url: str, login: str) -> dict[str, str]:
        """From an authorization URL a client made: `login` signs in at the IdP, and Giru's
        consent form fields."""
        landed = self.idp.sign_in_at(http, url, login, stop_at=self.url("/oauth/consent"))
        page = http.get(landed)
        assert page.status_code == 200, page.text
        return dict(_FORM_FIELD.findall(page.text))

    def sign_in(self, url: str, login: str = "alice") -> str:
        """The browser's part of an authorization URL a client made: `login` signs in at the
        IdP and allows the client on Giru's consent page; where the client is sent back to."""
        with httpx.Client() as http:
            form = self.consent_form_at(http, url, login)
            answered = http.post(self.url("/oauth/consent"), data={**form, "decision": "allow"})
        assert answered.status_code == 303, answered.text
        return answered.headers["location"]

    def authorize(
        self,
        http: httpx.Client,
        client_id: str,
        login: str = "alice",
        *,
        redirect_uri: str = CLIENT_REDIRECT,
        resource: str | None = None,
        decision: str = "allow",
    ) -> Authorization:
        """The whole browser side: authorize, IdP sign-in, consent; where the client lands."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(12)
        form = self.consent_form(
            http,
            client_id,
            login,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=challenge,
            code_challenge_method="S256",
            resource=resource or self.mcp,
        )
        answered = http.post(self.url("/oauth/consent"), data={**form, "decision": decision})
        assert answered.status_code == 303, answered.text
        return Authorization(answered.headers["location"], verifier, state)

    def token(self, form: Mapping[str, str], auth: tuple[str, str] | None = None) -> httpx.Response:
        return httpx.post(self.url("/oauth/token"), data=dict(form), auth=auth)

    def redeem(self, client_id: str, authorization: Authorization, **extra: str) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": authorization.code,
            "redirect_uri": CLIENT_REDIRECT,
            "code_verifier": authorization.verifier,
            "client_id": client_id,
            **extra,
        }
        return self.token(form)

    def audit(self, **filters: str) -> list[dict[str, Any]]:
        response = httpx.get(
            self.url("/api/v1/audit"),
            params=filters,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        response.raise_for_status()
        items = response.json()["items"]
        assert isinstance(items, list)
        return items

    def wait_for_audit(self, action: str, **filters: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        def stored() -> bool:
            found[:] = self.audit(action=action, **filters)
            return bool(found)

        wait_until(stored, f"an audit record {action} {filters}")
        return found

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.workdir.rglob("*.log"))


def settings_for(
    workdir: Path,
    port: int,
    origins: Sequence[str] = (),
    *,
    redis_url: str | None = None,
    public_url: str | None = None,
    spool: Path | None = None,
    store_poll_s: float = 5.0,
    **identity: Any,
) -> Settings:
    """A worker on `port` over the SQLite store in `workdir`. `origins`:
    `GIRU_HTTP__ALLOWED_ORIGINS`; `public_url`: another worker's, when several serve one public
    URL (`spool`: its own spool directory then); `identity`: `IdentitySettings` fields."""
    return Settings(
        http=HttpSettings(allowed_origins=list(origins)),
        database_url=f"sqlite+aiosqlite:///{workdir / 'giru.db'}",
        listen=f"127.0.0.1:{port}",
        public_url=public_url or f"http://127.0.0.1:{port}",
        admin_token=SecretStr(ADMIN_TOKEN),
        redis_url=redis_url,
        store_poll_s=store_poll_s,
        log_format="json",
        policy=PolicySettings(enabled=False),
        metering=MeteringSettings(spool_dir=spool or workdir / "spool"),
        identity=IdentitySettings(allow_loopback_documents=True, **identity),
    )


@contextmanager
def serve_in_thread(app: GiruApp, port: int) -> Iterator[asyncio.AbstractEventLoop]:
    """Serve `app` with uvicorn on `port` in a thread until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), "giru started", timeout=60)
        assert server.started, "giru did not start"
        yield loop
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        loop.close()


@contextmanager
def brokered_giru(
    workdir: Path,
    extra: str = "",
    origins: Sequence[str] = (),
    *,
    redis_url: str | None = None,
    store_poll_s: float = 5.0,
    **identity: Any,
) -> Iterator[BrokeredGiru]:
    """A Giru whose authorization server signs people in at a fresh oidc-provider; `extra`:
    more manifests (YAML documents joined by ---); `origins`: browser origins allowed;
    `redis_url`: its change bus."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    idp = start_identity_provider(
        workdir, resources={}, redirect_uris=[f"{issuer}/oauth/idp/callback"]
    )
    try:
        os.environ[_SECRET_VARIABLE] = idp.client_secret
        manifest = workdir / "idp.yaml"
        provider = _IDENTITY_PROVIDER.format(issuer=idp.issuer, client=CONFIDENTIAL_CLIENT)
        manifest.write_text("\n---\n".join(d.strip() for d in (provider, extra) if d.strip()))
        settings = settings_for(
            workdir, port, origins, redis_url=redis_url, store_poll_s=store_poll_s, **identity
        )
        app = GiruApp(settings, load(manifest))
        with serve_in_thread(app, port):
            yield BrokeredGiru(issuer, idp, workdir)
    finally:
        idp.peer.stop()


@contextmanager
def another_worker(giru: BrokeredGiru, redis_url: str, store_poll_s: float = 5.0) -> Iterator[str]:
    """A second worker beside `giru` (same store, same public URL, changes over the Redis at
    `redis_url`, its own spools); its base URL."""
    port = free_port()
    spool = giru.workdir / f"worker-{port}" / "spool"
    settings = settings_for(
        giru.workdir,
        port,
        redis_url=redis_url,
        public_url=giru.issuer,
        spool=spool,
        store_poll_s=store_poll_s,
    )
    with serve_in_thread(GiruApp(settings), port):
        yield f"http://127.0.0.1:{port}"

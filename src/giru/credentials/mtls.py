"""`ClientCertificates`: the TLS context of an `mtls` upstream, from secrets.

The certificate (PEM, leaf first, then its chain), the key (PEM, unencrypted) and optionally a
CA bundle (PEM) are secret entries. Python's `ssl` loads a certificate chain from files only, so
the two are written to a private temporary directory (mode 700, files 600) for the load and
removed at once, in a worker thread. The context is rebuilt only when an entry's value changes;
the resolved spec stays the same object otherwise (the upstream pool keeps its sessions).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import ssl
import tempfile
from pathlib import Path

from giru.credentials.grants import EntryReader
from giru.errors import CredentialsUnavailableError
from giru.upstream.auth import MtlsAuth
from giru.upstream.base import ServerSpec

__all__ = ["ClientCertificates", "client_context"]


class ClientCertificates:
    """Resolves `MtlsAuth` specs into `ServerSpec.tls` (see the module docstring)."""

    def __init__(self, read: EntryReader) -> None:
        self._read = read
        self._made: dict[str, tuple[ServerSpec, str, ServerSpec]] = {}

    async def resolve(self, spec: ServerSpec, auth: MtlsAuth) -> ServerSpec:
        """`spec` with the client certificate context in `tls`.

        Raises:
            CredentialsUnavailableError: a secret cannot be read or does not hold a usable
                certificate, key or CA bundle.
        """
        certificate = await self._read(auth.certificate, spec.name)
        key = await self._read(auth.key, spec.name)
        ca = await self._read(auth.ca, spec.name) if auth.ca is not None else None
        digest = hashlib.sha256(f"{certificate}\0{key}\0{ca}".encode()).hexdigest()
        made = self._made.get(spec.name)
        if made is not None and made[1] == digest and (made[0] is spec or made[0] == spec):
            return made[2]
        context = await asyncio.to_thread(client_context, certificate, key, ca)
        resolved = dataclasses.replace(spec, tls=context)
        self._made[spec.name] = (spec, digest, resolved)
        return resolved


def client_context(certificate: str, key: str, ca: str | None) -> ssl.SSLContext:
    """A client TLS context presenting `certificate` + `key`, verifying the server against
    `ca` (PEM) or the system trust store. Raises `CredentialsUnavailableError`."""
    try:
        context = ssl.create_default_context(cadata=ca) if ca else ssl.create_default_context()
    except ssl.SSLError as exc:
        raise CredentialsUnavailableError("the mtls CA bundle is not PEM certificates") from exc
    with tempfile.TemporaryDirectory(prefix="giru-mtls-") as directory:
        cert_file, key_file = Path(directory, "cert.pem"), Path(directory, "key.pem")
        for path, text in ((cert_file, certificate), (key_file, key)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(text)
        try:
            context.load_cert_chain(cert_file, key_file)
        except ssl.SSLError as exc:
            raise CredentialsUnavailableError(
                "the mtls certificate and key are not a matching unencrypted PEM pair"
            ) from exc
    return context

"""One HTTP POST of a webhook to an address ssrf.check approved, never to a name resolved again.

The TCP connection goes to the checked IP address; the Host header carries the URL's host, and for https the
TLS handshake sends it as SNI and verifies the certificate against it (the system's CA store). Redirects are
not followed (a 3xx is an answer like any other: the caller counts it as a failed attempt). Only the first
RESPONSE_BYTES of the body are read. Each socket operation times out after `timeout` seconds; the RQ job's
own timeout bounds the whole attempt.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass

from dashboard.webhooks.models import RESPONSE_BYTES
from dashboard.webhooks.ssrf import IP, Resolved

USER_AGENT = "rq-console-webhooks/1"


@dataclass(frozen=True)
class Answer:
    """What one attempt got: an HTTP status (None when no answer came), its time, its first bytes, or the
    error that prevented an answer."""

    status: int | None
    ms: int
    body: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a fixed IP address with the URL's host as SNI and for certificate checks."""

    def __init__(self, ip: str, port: int, server_hostname: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(ip, port, timeout=timeout, context=context)
        self._server_hostname = server_hostname
        self._tls = context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)  # TCP to the pinned address
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self._server_hostname)


def _connection(resolved: Resolved, ip: IP, timeout: float) -> http.client.HTTPConnection:
    target = resolved.target
    if target.scheme == "https":
        return _PinnedHTTPS(str(ip), target.port, target.host, timeout, ssl.create_default_context())
    return http.client.HTTPConnection(str(ip), target.port, timeout=timeout)


def post(resolved: Resolved, body: bytes, headers: Mapping[str, str], timeout: float) -> Answer:
    """POST `body` to the first address that accepts the connection (each was checked). Never raises for
    network trouble: it is in Answer.error."""
    started = time.monotonic()
    target = resolved.target
    sent = {
        **headers,
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Content-Length": str(len(body)),
    }
    error = ""
    for ip in resolved.addresses:
        connection = _connection(resolved, ip, timeout)
        try:
            try:
                connection.connect()
            except (OSError, http.client.HTTPException) as failure:
                error = _describe(failure, ip, timeout)
                continue  # the next checked address, if any
            connection.request("POST", target.path, body=body, headers=sent)
            response = connection.getresponse()
            first = response.read(RESPONSE_BYTES)
            return Answer(response.status, _ms(started), first.decode("utf-8", "replace"))
        except (OSError, http.client.HTTPException) as failure:
            return Answer(None, _ms(started), error=_describe(failure, ip, timeout))
        finally:
            connection.close()
    return Answer(None, _ms(started), error=error or "no address to connect to")


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _describe(failure: Exception, ip: IP, timeout: float) -> str:
    if isinstance(failure, socket.timeout | TimeoutError):
        return f"timed out after {timeout:g} s ({ip})"
    if isinstance(failure, ssl.SSLError):
        return f"TLS error: {failure.reason or failure}"[:500]
    if isinstance(failure, ConnectionRefusedError):
        return f"connection refused ({ip})"
    return f"{type(failure).__name__}: {failure}"[:500]

"""A real local HTTP receiver for the webhook tests: http.server in a thread on an OS-assigned port, answering
each POST with the next scripted status (the last one repeats) and recording what it got."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rq import Queue, SimpleWorker


class QuickWorker(SimpleWorker):
    """RQ's SimpleWorker without its command channel: the pub/sub thread's join costs a second per burst,
    and these tests send it no command."""

    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass


def deliver(connection, queue: str = "webhooks") -> None:
    """Run every delivery job on the webhook queue in this process (retries with a 0 s backoff included)."""
    QuickWorker([Queue(queue, connection=connection)], connection=connection).work(burst=True)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, statuses=(200,), location: str = "/elsewhere") -> None:
        self.statuses = list(statuses)
        self.location = location
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.location)
                answer = f"<b>answer {status}</b> " + "x" * 2000
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook?token=abc"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

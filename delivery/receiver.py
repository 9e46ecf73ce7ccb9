"""A webhook receiver on loopback that checks each event's signature, as a subscriber's
own endpoint would: what the demo delivers its events to, and a model for receivers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from delivery.webhooks import SIGNATURE_HEADER, verify_signature


@dataclass
class Receiver:
    """The events received on ``url``; ``key`` is set once the subscription has its key.
    An event whose signature does not verify is answered 400 and kept apart."""

    url: str = ""
    key: str = ""
    events: list[dict[str, object]] = field(default_factory=list)
    refused: int = 0


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A :class:`Receiver` listening on a free loopback port until the block ends."""
    made = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            signed = verify_signature(made.key, self.headers.get(SIGNATURE_HEADER, ""), body)
            with lock:
                if signed:
                    made.events.append(json.loads(body))
                else:
                    made.refused += 1
            self.send_response(200 if signed else 400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    made.url = f"http://127.0.0.1:{server.server_address[1]}/events"
    try:
        yield made
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

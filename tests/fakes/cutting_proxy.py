"""A loopback TCP proxy that drops a chosen connection mid-answer, to test clients that must resume."""
from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit


class CuttingProxy:
    """Forwards every connection to `target`; the first one whose request starts with `cut_prefix` is
    closed (both ways) once `cut_after` bytes of its answer have gone to the client."""

    def __init__(self, target_url: str, *, cut_prefix: bytes, cut_after: int) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.cut_prefix, self.cut_after = cut_prefix, cut_after
        self.cuts = 0
        self._armed = True
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        """Stop accepting connections."""
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.target)
        first = client.recv(65536)
        with self._lock:
            cut = self._armed and first.startswith(self.cut_prefix)
            if cut:
                self._armed = False
        upstream.sendall(first)
        threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
        sent = 0
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                if cut and sent + len(data) >= self.cut_after:
                    client.sendall(data[: max(0, self.cut_after - sent)])
                    self.cuts += 1
                    break
                client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for end in (client, upstream):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass

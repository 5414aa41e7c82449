"""The background thread behind each local event source mapping: poll rounds until stopped, survive failures."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("local_runtime.poller")


class BackgroundPoller:
    """Calls `poll_round` on a daemon thread until stop(). A round that delivered nothing is followed by
    `idle_seconds` of rest (0 when the round itself long-polls); a round that raised is logged and followed by
    a second's rest, so a broken source never spins a laptop's CPU."""

    def __init__(self, name: str, poll_round: Callable[[], object], *, idle_seconds: float = 0.0) -> None:
        self.name = name
        self.poll_round = poll_round
        self.idle_seconds = idle_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current round returns."""
        self.request_stop()
        self.join()

    def request_stop(self) -> None:
        """Ask the loop to end after its current round (`join` waits for it): a stack stops every poller at once."""
        self._stop.set()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.poll_round() and self.idle_seconds:
                    self._stop.wait(self.idle_seconds)
            except Exception:
                if self._stop.is_set():  # stopping: what it talked to may be gone already
                    return
                log.exception("polling %s failed", self.name)
                self._stop.wait(1)


def drain_rounds(poll_round: Callable[[], int], rounds: int) -> int:
    """Run rounds until one delivers nothing, at most `rounds` (tests); the total delivered."""
    total = 0
    for _ in range(rounds):
        delivered = poll_round()
        total += delivered
        if not delivered:
            return total
    return total

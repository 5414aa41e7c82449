"""In-memory stand-ins for the write-back delivery's ledger and dead-letter queue (unit tests and the bench)."""

from __future__ import annotations

import json

from sf_edge.write_back.messages import PARKED, PENDING, RECORDED, SENT, WriteBack


class MemoryLedger:
    """The WriteBackLedger table's rule in a dict: newer stamps claim; a done write-back is not claimed again."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, str]] = {}

    def claim(self, write_back: WriteBack) -> bool:
        held = self.items.get(write_back.key)
        fields = json.dumps(write_back.fields, sort_keys=True)
        done = held is not None and held["status"] in (SENT, RECORDED)
        if held is not None and (
            held["stamp"] > write_back.stamp
            or (held["stamp"] == write_back.stamp and done)
            or (done and held["fields"] == fields)  # the same fields again: already said
        ):
            return False
        self.items[write_back.key] = {"stamp": write_back.stamp, "status": PENDING, "detail": "", "fields": fields}
        return True

    def park(self, write_back: WriteBack) -> bool:
        held = self.items.get(write_back.key)
        if held is None or held["stamp"] != write_back.stamp:
            return False
        held["status"] = PARKED
        return True

    def settle(self, write_back: WriteBack, status: str, detail: str = "") -> None:
        held = self.items.get(write_back.key)
        if held is not None and held["stamp"] == write_back.stamp:
            held.update(status=status, detail=detail)


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[WriteBack, str]] = []

    def send(self, write_back: WriteBack, reason: str) -> None:
        self.sent.append((write_back, reason))

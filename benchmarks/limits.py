"""How fast oversized or hostile JSON bodies are refused, and what validating a large valid one costs.

Prints JSON: seconds to parse + validate a 25 MB note list against the POST body schema
(refused by size), a 100k-note valid list and piece (the daemon's default --max-notes), and a
deeply nested body.
"""
from __future__ import annotations

import json
import time

from symbolic_ai.bridges.errors import BadRequest
from symbolic_ai.bridges.openapi import task_body, validate

from symbolic_ai import registry
from symbolic_ai.errors import InputError
from symbolic_ai.io.wire import loads


def timed(body: bytes, max_notes: int) -> tuple[float, str]:
    t = time.perf_counter()
    try:
        validate(task_body(registry.get("key"), max_notes=max_notes), loads(body, "body"))
        outcome = "accepted"
    except (BadRequest, InputError) as exc:
        outcome = str(exc)[:100]
    return time.perf_counter() - t, outcome


def main() -> None:
    big = json.dumps({"notes": [[60, 90, i * 0.25, 0.5, 1] for i in range(1_200_000)]}).encode()
    ok = json.dumps({"notes": [[60, 90, i * 0.25, 0.5, 1] for i in range(100_000)]}).encode()
    piece = json.dumps({"piece": {"notes": [{"pitch": 60, "onset_beat": i * 0.5, "duration_beat": 0.5}
                                            for i in range(100_000)]}}).encode()
    deep = b'{"notes": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    out = {}
    for label, body in (("note_list_25mb", big), ("note_list_100k_valid", ok), ("piece_100k_valid", piece),
                        ("nested_100k", deep)):
        sec, outcome = timed(body, 100_000)
        out[label] = {"bytes": len(body), "seconds": round(sec, 3), "outcome": outcome}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""Build OSC reply messages with the daemon's hand-written builder and with python-osc's
OscMessageBuilder (the same types: ints, floats, strings); prints JSON, microseconds per message.

    .venv/bin/python benchmarks/osc_build.py
"""
from __future__ import annotations

import json
import time
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder

from symbolic_ai.bridges.osc import build
from symbolic_ai.bridges.wire import osc_value

MESSAGES = {"done": ("/sai/done", [7, "key", "C major", 0.995, 1.07, "C minor", "albrecht", 12345]),
            "note": ("/sai/note", [7, 60, 90, 0.0, 1.0, 1])}


def build_python_osc(address: str, args: list[Any]) -> bytes:
    msg = OscMessageBuilder(address)
    for v in map(osc_value, args):
        msg.add_arg(v, "s" if isinstance(v, str) else "f" if isinstance(v, float) else "i")
    return msg.build().dgram


def per_message_us(fn, address: str, args: list[Any], n: int = 20_000) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn(address, args)
    return round((time.perf_counter() - t) / n * 1e6, 2)


def main() -> None:
    out: dict[str, Any] = {"benchmark": "osc_build", "unit": "us/message"}
    for name, (address, args) in MESSAGES.items():
        assert build(address, args) == build_python_osc(address, args)  # the same bytes
        out[name] = {"hand_written": per_message_us(build, address, args),
                     "python_osc": per_message_us(build_python_osc, address, args)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

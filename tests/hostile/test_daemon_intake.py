"""Issue-22 case 7: a burst the daemon cannot handle at once is read out of the kernel's buffer
into a bounded intake queue, and what does not fit is answered `busy` instead of vanishing."""
from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: conftest, daemon_support

from symbolic_ai.bridges import osc  # noqa: E402
from symbolic_ai.bridges.client import OscClient  # noqa: E402
from symbolic_ai.bridges.config import Config  # noqa: E402
from symbolic_ai.bridges.server import start_background  # noqa: E402


def test_a_burst_past_the_intake_limit_is_answered_busy(monkeypatch):
    monkeypatch.setattr(osc, "MAX_INTAKE", 50)
    with start_background(Config(osc_port=0, http_port=None, preload=False, device="cpu")) as d:
        with OscClient(d.osc_address, timeout_s=30) as c:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            blocked = d.loop.call_soon_threadsafe(time.sleep, 0.5)  # the loop is busy elsewhere ...
            for i in range(1, 201):  # ... while a burst arrives
                c.send("/sai/cancel", i)
            got = []
            c.sock.settimeout(5)
            while len(got) < 200:
                got.append(osc.parse_packet(c.sock.recv(65536))[0][1])
            blocked.cancel()
    codes = [args[1] for args in got]
    assert sorted(args[0] for args in got) == list(range(1, 201))  # every request answered once
    assert codes.count("busy") >= 100 and codes.count("not_found") >= 50, (codes.count("busy"), codes.count("not_found"))

"""symbolic_ai.bridges: the local inference daemon and the other live bridges.

`symbolic-ai serve` starts one process with one asyncio job engine (`engine.py`, jobs run in
worker processes: `workers.py`) and two thin protocol adapters over it: OSC over UDP (`osc.py`)
and HTTP/JSON on aiohttp (`http.py`). Every task in
`symbolic_ai.registry.TASKS` is served automatically. The core package never imports this one.

```python
from symbolic_ai.bridges.server import Config, start_background
with start_background(Config(osc_port=0, http_port=0)) as daemon:
    print(daemon.osc_address, daemon.http_url)
```
"""

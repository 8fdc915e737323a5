"""Grid search of the `key` task's parameters on the VALID splits only (never test).

    .venv/bin/python benchmarks/key_tune.py [--stage global|local]

Loads the valid items of POP909-CL, BPS-FH and Nottingham once, then prints one JSON line per
setting: global accuracy / MIREX per dataset and their mean, and (stage `local`) the frame-level
local-key accuracy on POP909-CL and BPS-FH. The chosen defaults are in `symbolic_ai/tasks/key.py`.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from key import DATASETS, items, ours  # noqa: E402  (benchmarks/key.py)

from symbolic_ai.tasks.key import DEFAULTS  # noqa: E402

GLOBAL_GRID = {  # a first, wider grid (all 6 profiles, onset 0/0.25/1, bass 0/1/3, cap 1/4/1024) kept
    "profile": ["albrecht", "sapp", "aarden"],  # these three profiles and no bonus led it
    "onset_weight": [0.0, 0.25],
    "bass_weight": [0.0, 1.0],
    "duration_cap_beats": [4.0, 1024.0],
    "final_bass_bonus": [0.0, 0.05, 0.1, 0.2],
}
LOCAL_GRID = {  # a first grid (window 8/16/32/64, hop 2/4, switch 0.5/2/4/8/16, no prior) led here
    "window_beats": [8.0, 16.0],
    "hop_beats": [2.0, 4.0],
    "switch_cost": [1.0, 2.0, 4.0],
    "global_prior": [0.0, 0.05, 0.1, 0.2],
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", choices=("global", "local"), default="global")
    ap.add_argument("--base", default="{}", help="JSON of fixed parameters (e.g. the global stage's best)")
    args = ap.parse_args(argv)
    base = {**DEFAULTS, **json.loads(args.base)}
    data = {ds: items(ds, "valid")[0] for ds in DATASETS}
    grid = GLOBAL_GRID if args.stage == "global" else LOCAL_GRID
    local = args.stage == "local"
    for values in itertools.product(*grid.values()):
        params = {**base, **dict(zip(grid, values))}
        row: dict = {"params": {k: params[k] for k in grid}}
        accs, pooled, n = [], 0.0, 0
        for ds, its in data.items():
            use_local = local and ds != "nottingham"
            if local and not use_local:
                continue
            res = ours(its, params, use_local)[0]
            row[ds] = {"accuracy": res["accuracy"], "mirex": res["mirex"]}
            if use_local:
                row[ds]["local"] = res["local"]["accuracy"]
                accs.append(res["local"]["accuracy"])
            else:
                accs.append(res["accuracy"])
            pooled += accs[-1] * len(its)
            n += len(its)
        row["mean"] = round(sum(accs) / len(accs), 4)
        row["pooled"] = round(pooled / n, 4)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

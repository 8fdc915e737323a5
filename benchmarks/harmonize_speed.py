"""Time `harmonize` on a 32-bar 4/4 melody (the folk example re-barred and cut to 128 beats); prints JSON.

`model_ms` is the ONNX model alone; `decode_ms` features + model + HMM (Viterbi) at bar rhythm;
`task_ms` the whole task with a block accompaniment. Median of `--repeats` runs, onnxruntime
limited to `--threads`.

    python benchmarks/harmonize_speed.py [--threads 2] [--repeats 20]
"""
from __future__ import annotations

import json
from pathlib import Path

import symbolic_ai as sai
from symbolic_ai import runtime
from symbolic_ai.piece import TimeSignature
from symbolic_ai.registry import run
from symbolic_ai.tasks import harmonize as H

from chords_speed import median_ms, speed_args, tiled

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "folk_melody.mid"


def main() -> None:
    args = speed_args(__doc__)
    src = tiled(sai.load(EXAMPLE), 1.0)  # one copy, onsets re-derived
    notes = src.notes[src.notes["onset_beat"] < 128].copy()
    notes["bar"] = -1
    piece = src.replace(notes=notes, time_signatures=(TimeSignature(0.0, 4, 4),))
    bars = len(piece.bar_starts(127.9))
    model = runtime.load_model("harmonize-v1", device="cpu")
    mel, _ = H.select_melody(piece)
    feats = H.melody_features(mel, "folk")[None]
    out = {"benchmark": "harmonize/speed", "bars": bars, "beats": feats.shape[1], "threads": args.threads,
           "model_ms": median_ms(lambda: model.run(features=feats), args.repeats),
           "decode_ms": median_ms(lambda: H.progression(mel, style="folk", rhythm="bar", model=model),
                                  args.repeats),
           "decode_learned_ms": median_ms(lambda: H.progression(mel, style="folk", rhythm="learned", model=model),
                                          args.repeats),
           "task_ms": median_ms(lambda: run("harmonize", piece, device="cpu", style="folk"), args.repeats)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

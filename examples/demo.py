"""Run every registered task on the example files; outputs go to out/ (what `make demo` does).

Each task gets the examples that fit its input kind: a `melody` task the monophonic tunes,
every other task every example. The tasks that take a recording (`align`, `locate`) get one made
here: a take of the folk tune (tones of six partials, played rubato after a second of silence) and
a four-bar MIDI clip cut from the rag; they need the `audio` extra and are skipped, saying so,
without it. Each run goes through the real CLI.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from symbolic_ai.registry import RECORDING_TASKS, TASKS

HERE = Path(__file__).parent
MELODIES = ["folk_melody.abc", "folk_melody.mid"]
EXAMPLES = ["chorale_bwv66_6.musicxml", "maple_leaf_rag.mid", "maple_leaf_rag.musicxml"] + MELODIES


def inputs_for(kind: str) -> list[Path]:
    names = MELODIES if kind == "melody" else EXAMPLES
    return [HERE / n for n in names]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="out")
    args = ap.parse_args()
    failures = 0
    for name, spec in TASKS.items():
        out = Path(args.out) / name
        out.mkdir(parents=True, exist_ok=True)
        files = [str(p) for p in inputs_for(spec.input)]
        for fmt in ("mid", "json"):
            cmd = [sys.executable, "-m", "symbolic_ai.cli", "run", name, *files, "-o", str(out), "--format", fmt]
            print("$", " ".join(cmd[2:]), flush=True)
            failures += subprocess.call(cmd) != 0
    done = len(TASKS)
    try:
        import librosa  # noqa: F401
        import soundfile  # noqa: F401
    except ImportError:
        print(f"demo: {', '.join(RECORDING_TASKS)} skipped: they need the audio extra "
              f"(pip install 'symbolic-ai[audio]', or make demo EXTRAS=test,audio)")
    else:
        failures += recording_tasks(Path(args.out))
        done += len(RECORDING_TASKS)
    print(f"demo: {done} tasks, outputs in {args.out}/" + (f", {failures} failed" if failures else ""))
    return 1 if failures else 0


def recording_tasks(out: Path) -> int:
    """`align` a synthesized take of the folk tune to its score; `locate` a four-bar clip in the rag."""
    import numpy as np
    import soundfile as sf

    import symbolic_ai as sai

    sr, failures = 22050, 0
    tune = sai.load(HERE / "folk_melody.mid")
    beats = tune.notes["onset_beat"]
    onsets = 1.0 + 0.5 * beats + 0.0008 * beats ** 2  # 120 qpm slowing to about 90, after 1 s of silence
    y = np.zeros(int((onsets.max() + 2.5) * sr))
    t = np.arange(int(1.5 * sr)) / sr
    for on, pitch in zip(onsets, tune.notes["pitch"]):
        f0 = 440.0 * 2 ** ((int(pitch) - 69) / 12)
        tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 7) if f0 * k < sr / 2)
        a = int(on * sr)
        y[a:a + len(t)] += tone * np.exp(-t / 0.4) * np.minimum(1.0, t / 0.003)
    (out / "align").mkdir(parents=True, exist_ok=True)
    take = out / "align" / "folk_take.wav"
    sf.write(str(take), (0.3 * y / np.abs(y).max()).astype(np.float32), sr)
    clip = out / "locate" / "rag_bars_9-12.mid"
    clip.parent.mkdir(parents=True, exist_ok=True)
    sai.save(sai.load(HERE / "maple_leaf_rag.mid").slice_bars(9, 13), clip)
    runs = [("align", str(take), str(HERE / "folk_melody.abc"), "-o", str(out / "align" / "folk_on_take.mid")),
            ("locate", str(clip), str(HERE / "maple_leaf_rag.musicxml"))]
    for name, *rest in runs:
        cmd = [sys.executable, "-m", "symbolic_ai.cli", "run", name, *rest, "--json"]
        print("$", " ".join(cmd[2:]), flush=True)
        with open(out / name / f"{name}.json", "w", encoding="utf-8") as f:
            failures += subprocess.call(cmd, stdout=f) != 0
        print(f"  -> {out / name / (name + '.json')}", flush=True)
    return failures


if __name__ == "__main__":
    sys.exit(main())

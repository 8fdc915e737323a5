"""`python -m training MODEL STEP [args]`: the one entry point of the workbench (see training/README.md)."""
from __future__ import annotations

import importlib
import sys

# model -> step -> (module, one line); each module has `main()` reading its own options
STEPS: dict[str, dict[str, tuple[str, str]]] = {
    "encoder": {
        "corpus": ("training.encoder.corpus", "tokenize the train splits into runs/encoder/corpus-v1.npz"),
        "pretrain": ("training.encoder.pretrain", "pre-train the shared encoder (denoising + pianoroll)"),
        "release": ("training.encoder.release", "corpus -> staged pre-training -> bf16 checkpoint -> ONNX (--out)"),
        "export": ("training.encoder.export", "fp32 + int8 ONNX and cards from training/encoder/encoder-v2.pt (--out)"),
    },
    "emotion": {
        "baseline": ("training.emotion.baseline", "logistic regression on clip statistics / harmony guide"),
        "train": ("training.emotion.train", "fine-tune the encoder for emotion: fit, probe, cv"),
        "fuse": ("training.emotion.fuse", "fuse fine-tuned seeds with the linear model; --ship DIR exports them"),
        "export": ("training.emotion.export", "export a checkpoint, or --from-onnx: int8 + card from a released fp32"),
        "features": ("training.emotion.v5", "emotion-v5: invariant guide features of every clip and rendering"),
        "head": ("training.emotion.v5_head", "emotion-v5: select the head on valid, --test, --ship DIR"),
        "features6": ("training.emotion.v6", "emotion-v6: invariant+notation guide of every clip, check and weak item"),
        "head6": ("training.emotion.v6_head", "emotion-v6: select the head on valid, --test, --ship DIR"),
        "weak": ("training.emotion.weak", "weak arousal labels: When-in-Rome scores with opening tempo words"),
        "checkset": ("training.emotion.checkset", "the score check set: arousal from tempo words (runs/emotion5/)"),
        "fresh": ("training.emotion.fresh", "the fresh held-out score check set (late Beethoven quartets, ASAP)"),
    },
    "chords": {
        "cache": ("training.common.chord_cache", "parse the chord datasets once into runs/ caches"),
        "train": ("training.chords.train", "train chords-v1 and export it with its card (runs/chords/)"),
        "probe": ("training.chords.encoder_probe", "does the shared encoder help chords? (experiment, no export)"),
    },
    "harmonize": {
        "data": ("training.harmonize.data", "melody + chord caches per style"),
        "train": ("training.harmonize.train", "train harmonize-v1 and export it with its card (runs/harmonize/)"),
    },
    "align": {
        "synth": ("training.align.synth", "render held-out ASAP/Batik performances with FluidSynth (runs/align/eval)"),
    },
    "embed": {
        "data": ("training.embed.data", "render ASAP/Batik/POP909/EMOPIA windows, cache frames (runs/embed/data)"),
        "train": ("training.embed.train", "train one arm/seed (VICReg), evaluate, --export DIR writes ONNX + cards"),
    },
    "perform": {
        "data": ("training.perform.data", "score/performance feature cache from ASAP and Batik"),
        "train": ("training.perform.train", "train perform (flow matching); --export PATH writes ONNX + card"),
        "tempo": ("training.perform.tempo", "train the tempo-curve model (GRU over onset groups); --export PATH"),
    },
}


def usage() -> str:
    lines = ["usage: python -m training MODEL STEP [options]   (STEP --help: its options)", "", "models and steps:"]
    for model, steps in STEPS.items():
        lines.append(f"  {model}")
        lines += [f"    {step:<9} {doc}" for step, (_, doc) in steps.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0
    model, step, rest = args[0], (args[1] if len(args) > 1 else ""), args[2:]
    if model not in STEPS:
        print(f"training: unknown model {model!r}; one of {', '.join(STEPS)}", file=sys.stderr)
        return 2
    if step not in STEPS[model]:
        print(f"training: unknown step {step!r} for {model}; one of {', '.join(STEPS[model])}", file=sys.stderr)
        return 2
    mod = importlib.import_module(STEPS[model][step][0])
    sys.argv = [f"python -m training {model} {step}", *rest]
    code = mod.main()
    return int(code or 0)


if __name__ == "__main__":
    raise SystemExit(main())

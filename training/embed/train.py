"""Train one arm and seed of the embeddings (embed-v2) with VICReg; resumable; the valid retrieval figures at the end.

    python -m training embed train --arm desc --seed 0 [--steps 1500] [--data runs/embed/data]
    python -m training embed train --arm desc --seed 0 --export DIR --metrics FILE   # ONNX + cards

Random SEG_SEC windows of the train renderings (at least one note onset) are paired with their notes;
batch BATCH, AdamW, linear warm-up then cosine decay, under torch.autocast("cpu", bfloat16) with one
thread. A checkpoint (model, optimizer, step, random states) is written to runs/embed/<arm>-s<seed>/
every CKPT_EVERY steps, and a rerun continues from it. At the end, `valid.json` there holds the
retrieval figures on the valid split (training/embed/evaluate.py).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from symbolic_ai.embed import AUDIO_MODEL, FPS, MAX_NOTES, MIDI_MODEL, N_MEL, SEG_FRAMES, audio_inputs, midi_inputs
from training.embed.data import split_complete
from training.embed.evaluate import VALID_CONDITIONS, cached_segments, retrieval
from training.embed.model import AudioOut, DualEncoder, MidiOut, vicreg

BATCH = 64
VERSION = 2  # of the exported encoders (symbolic_ai.embed.AUDIO_MODEL / MIDI_MODEL)
CKPT_EVERY = 100
LR, WARMUP = 2e-3, 30


def load_train(folder: Path) -> list[dict[str, np.ndarray]]:
    out = []
    for path in sorted(folder.glob("*.npz")):  # every training soundfont (data.TRAIN_FONTS)
        z = np.load(path)
        if len(z["mel"]) > SEG_FRAMES:
            out.append({k: z[k] for k in ("mel", "bands", "onset", "offset", "pitch", "velocity")})
    if not out:
        raise SystemExit(f"no renderings in {folder}: run `python -m training embed data` first")
    return out


def batch(perfs: list[dict[str, np.ndarray]], rng: np.random.Generator) -> dict[str, torch.Tensor]:
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("mel", "a4", "pitch", "num", "d4")}
    while len(cols["mel"]) < BATCH:
        p = perfs[int(rng.integers(len(perfs)))]
        s = int(rng.integers(0, len(p["mel"]) - SEG_FRAMES))
        pitch, num, d4 = midi_inputs(p["pitch"], p["onset"], p["offset"] - p["onset"], p["velocity"],
                                     s / FPS)
        if not pitch.any():
            continue
        mel, a4 = audio_inputs(p["mel"][s:s + SEG_FRAMES].astype(np.float32),
                               p["bands"][s:s + SEG_FRAMES].astype(np.float32))
        for k, v in zip(cols, (mel, a4, pitch, num, d4)):
            cols[k].append(v)
    out = {k: torch.from_numpy(np.stack(v)) for k, v in cols.items()}
    n = int((out["pitch"] > 0).sum(dim=1).max())  # padding past the batch's longest segment does nothing
    return {k: v[:, :n] if k in ("pitch", "num", "d4") else v for k, v in out.items()}


@torch.no_grad()
def embed(model: DualEncoder, seg: dict[str, np.ndarray], a4: str = "real", chunk: int = 256
          ) -> tuple[np.ndarray, np.ndarray]:
    """Unit audio and MIDI embeddings of evaluation segments; `a4` "zero" or "shuffle" ablates A4."""
    model.eval()
    audio4 = seg["a4"]
    if a4 == "zero":
        audio4 = np.zeros_like(audio4)
    elif a4 == "shuffle":
        audio4 = audio4[np.random.default_rng(1).permutation(len(audio4))]
    ea, em = [], []
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for i in range(0, len(audio4), chunk):
            sl = slice(i, i + chunk)
            ea.append(AudioOut(model.audio, model.head_a)(torch.from_numpy(seg["mel"][sl]), torch.from_numpy(audio4[sl])))
            em.append(MidiOut(model.midi, model.head_m)(torch.from_numpy(seg["pitch"][sl]), torch.from_numpy(seg["num"][sl]),
                                             torch.from_numpy(seg["d4"][sl])))
    return torch.cat(ea).numpy(), torch.cat(em).numpy()


def evaluate(model: DualEncoder, seg: dict[str, np.ndarray], a4: str = "real") -> dict[str, float]:
    ea, em = embed(model, seg, a4)
    return retrieval(ea, em, seg["piece"], seg["composer"], seg["start"])


def train(args: argparse.Namespace) -> Path:
    run = Path(args.runs) / f"{args.arm}-s{args.seed}"
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = DualEncoder(args.arm, pool=args.pool)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    step, ckpt = 0, run / "ckpt.pt"
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {step}", flush=True)
    if step < args.steps:
        perfs = load_train(Path(args.data) / "train")
    t0 = time.time()
    while step < args.steps:
        if args.stop_at and time.strftime("%H:%M") >= args.stop_at:
            print(f"stopping at step {step}: --stop-at {args.stop_at} reached", flush=True)
            break
        model.train()
        lr = args.lr * min(1.0, (step + 1) / WARMUP) * 0.5 * (1 + np.cos(np.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        b = batch(perfs, rng)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            za = model.head_a(model.audio(b["mel"], b["a4"]))
            zm = model.head_m(model.midi(b["pitch"], b["num"], b["d4"]))
            loss, parts = vicreg(za, zm)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 20 == 0:
            rec = {"step": step, "loss": round(float(loss), 4), **{k: round(v, 4) for k, v in parts.items()},
                   "lr": lr, "sec": round(time.time() - t0, 1)}
            with open(run / "log.jsonl", "a") as log:
                log.write(json.dumps(rec) + "\n")
            print(rec, flush=True)
        if step % CKPT_EVERY == 0 or step == args.steps or (args.stop_at and time.strftime("%H:%M") >= args.stop_at):
            tmp = run / "ckpt.tmp"
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "arm": args.arm, "pool": args.pool,
                        "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}, tmp)
            tmp.replace(ckpt)
    if not (run / "valid.json").exists() and not split_complete(Path(args.data) / "valid"):
        print(f"valid renderings not complete yet (python -m training embed data): rerun this command later "
              f"to evaluate {run.name} on valid", flush=True)  # a finished run only evaluates
    elif not (run / "valid.json").exists():
        by = {c: evaluate(model, cached_segments(Path(args.data) / "valid", c)) for c in VALID_CONDITIONS}
        res = {"arm": args.arm, "seed": args.seed, "steps": step, "valid": by["base"], "conditions": by}
        (run / "valid.json").write_text(json.dumps(res, indent=1))
        print(json.dumps(res), flush=True)
    return run


def load(run: Path) -> DualEncoder:
    state = torch.load(Path(run) / "ckpt.pt", weights_only=False)
    model = DualEncoder(state["arm"], pool=state.get("pool", "mean"))
    model.load_state_dict(state["model"])
    return model.eval()


def export(run: Path, out: Path, metrics_file: Path) -> None:
    """Both encoders of `run` as ONNX with their cards in `out` (figures from `metrics_file`)."""
    from exports import card as C
    from exports.onnx import export as onnx_export

    model = load(run)
    metrics = json.loads(Path(metrics_file).read_text())
    licences = {"asap": "CC BY-NC-SA 4.0", "batik_mozart": "not stated (research use)", "pop909": "MIT",
                "emopia": "CC BY-NC-SA 4.0"}
    from training.embed.data import HELD_OUT, RENDER_FONTS, TRAIN_FONTS

    files = sorted((Path(run).parent / "data" / "train").glob("*.npz"))
    counts = {d: sum(p.name.startswith(d.split("_")[0] + "_") for p in files) for d in licences}
    fonts = ", ".join(Path(RENDER_FONTS[f]).stem for f in TRAIN_FONTS)
    training_data = [{"dataset": d, "licence": licences[d], "split": "train", "renderings": counts[d],
                      "rendered_with": f"{fonts} (fluidsynth), random GM piano program, gain, room and "
                                       "equaliser, 30-second windows"} for d in licences]
    splits = {"train": "train (by piece, as each dataset defines it)",
              "selection": "valid: the arm with the highest mean S (mean of two soundfonts) over 3 seeds, "
                           "its best seed",
              "test": f"test, reported once in docs/benchmarks.md (also {Path(RENDER_FONTS[HELD_OUT]).stem}, "
                      "never used in training; ±1 semitone; velocity ×0.6)"}
    rng = np.random.default_rng(0)
    mel = rng.normal(size=(2, SEG_FRAMES, N_MEL)).astype(np.float32)
    a4 = rng.normal(size=(2, SEG_FRAMES, 16)).astype(np.float32)
    pitch = np.zeros((2, MAX_NOTES), np.int64)
    pitch[0, :10] = rng.integers(40, 90, 10)
    pitch[1, :3] = rng.integers(40, 90, 3)
    num = rng.uniform(size=(2, MAX_NOTES, 3)).astype(np.float32)
    d4 = rng.uniform(-0.5, 0.5, size=(2, MAX_NOTES, 2)).astype(np.float32)
    common = {"task": "embed", "version": VERSION, "labels": [], "training_data": training_data, "splits": splits,
              "metrics": metrics, "arm": model.arm, "run": Path(run).name,
              "architecture": "training/embed/model.py (VICReg 25/25/1; width 64, 2 layers; expander 256)"}
    specs = (
        (AUDIO_MODEL, AudioOut(model.audio, model.head_a), {"mel": mel, "a4": a4}, {"mel": {0: "batch", 1: "frames"},
                                                                       "a4": {0: "batch", 1: "frames"}},
         {"inputs": "symbolic_ai.embed.audio_inputs: (frames, 64) log-mel less its mean, (frames, 16) A4",
          "frames": SEG_FRAMES, "pairs_with": MIDI_MODEL}),
        (MIDI_MODEL, MidiOut(model.midi, model.head_m), {"pitch": pitch, "num": num, "d4": d4},
         {"pitch": {0: "batch"}, "num": {0: "batch"}, "d4": {0: "batch"}},
         {"inputs": "symbolic_ai.embed.midi_inputs: (128,) pitch + 1 (0 pads), (128, 3) onset/duration/"
                    "velocity in 0..1, (128, 2) D4", "max_notes": MAX_NOTES, "pairs_with": AUDIO_MODEL}),
    )
    for name, module, example, dynamic, vocab in specs:
        tensors = {k: torch.from_numpy(v) for k, v in example.items()}
        onnx_model, fig = onnx_export(module.float(), tensors, out / f"{name}.onnx", output_names=["unit_embedding"],
                                      dynamic=dynamic, parity_inputs=[example])
        fig.pop("_reference", None)
        card = C.make_card(onnx_model, name=name, vocabulary=vocab, export=fig, **common)
        C.write(onnx_model, card, out / f"{name}.onnx")
        print(f"wrote {out / name}.onnx ({(out / f'{name}.onnx').stat().st_size / 1e6:.2f} MB)", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(prog=sys.argv[0], description=__doc__.split("\n\n")[0])
    ap.add_argument("--arm", default="desc", choices=("plain", "desc", "xattn"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--data", default="runs/embed/data")
    ap.add_argument("--runs", default="runs/embed")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=LR)
    ap.add_argument("--pool", default="mean", choices=("bins", "mean"), help="time bins (order kept) or mean")
    ap.add_argument("--stop-at", default="", metavar="HH:MM", help="stop training then (checkpoint kept; valid.json "
                    "records the steps done)")
    ap.add_argument("--export", default=None, metavar="DIR", help="export this run's encoders to DIR")
    ap.add_argument("--metrics", default=None, help="JSON of the figures for the cards' `metrics`")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.export:
        if not args.metrics:
            ap.error("--export needs --metrics FILE (the figures that go into the cards)")
        export(Path(args.runs) / f"{args.arm}-s{args.seed}", Path(args.export), Path(args.metrics))
        return 0
    train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

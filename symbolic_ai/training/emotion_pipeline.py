"""Every emotion run behind the shipped model and the results table, in order, resumable.

    python -m symbolic_ai.training.emotion_pipeline --recipe finetune --out runs/emotion2   # emotion-v2
    python -m symbolic_ai.training.emotion_pipeline --recipe frozen --out runs/emotion      # emotion-v1
    python -m symbolic_ai.training.emotion_pipeline --only probe base film_last

emotion-v3 and emotion-v4 (harmony guide, whole-clip windows, fused with a logistic regression) are
three commands, listed in `symbolic_ai.training.emotion_fuse` and docs/models/emotion-v4.md.

Recipes: `frozen` (emotion-v1) trains FiLM and the head on a frozen encoder; `finetune` (emotion-v2)
fine-tunes every encoder block (lr 5e-5, 8 epochs) and adds `stats_last`, FiLM at the last block
guided by the clip statistics (mode + register, velocity, density, articulation) instead of the
mode alone.

Steps (each writes runs/emotion/<name>.json and is skipped when that exists):
  probe        logistic-regression probe of each encoder block (which layer knows emotion)
  base         frozen encoder + head (no mode), EMOPIA; valid selects the epoch; test once
  film_last / film_middle / film_first   the same with FiLM(mode) after that block
  select       the variant with the best EMOPIA valid accuracy -> runs/emotion/selected.json
  vg_*         the selected and the base model fine-tuned on VGMIDI train (valid selects), test once
  cv_*         5-fold grouped CV on VGMIDI from the EMOPIA models (fixed epochs)
  noaug        the base variant trained without augmentation (the effect of augmentation)
Then `--ship symbolic_ai/models --version N` exports the selected model as emotion-vN (card with the metrics),
and `--table` prints the results table.
Budgets are per step in minutes (the CPU is shared): a step stops after the epoch that passes it;
each step runs single-threaded by default.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import emotion_train

VARIANTS = {"base": ("none", "mode"), "film_last": ("last", "mode"), "film_middle": ("middle", "mode"),
            "film_first": ("first", "mode"), "stats_last": ("last", "stats")}
RECIPES = {  # per recipe: extra fit arguments and epochs per variant (stats_last only when fine-tuning)
    "frozen": ([], {"base": 30, "film_last": 30, "film_middle": 6, "film_first": 4}),
    "finetune": (["--train-blocks", "4", "--lr", "5e-5"],
                 {"base": 8, "film_last": 8, "film_middle": 8, "film_first": 8, "stats_last": 8}),
}


def steps(budget: float, out: Path, recipe: str = "frozen") -> list[tuple[str, list[str] | None]]:
    """(name, emotion_train arguments); None marks the selection step. Every step stops after the
    epoch that passes `budget` minutes (short runs on a shared CPU)."""
    extra, epochs = RECIPES[recipe]
    fit = ["fit", "--dataset", "emopia", "--test", "--budget-min", str(budget)] + extra
    todo: list[tuple[str, list[str] | None]] = [("probe", ["probe"])]
    for name, (film, guide) in VARIANTS.items():
        if name in epochs:
            todo.append((name, fit + ["--film", film, "--guide", guide, "--epochs", str(epochs[name])]))
    todo.append(("select", None))
    for name in ("selected", "base"):
        init = "@selected" if name == "selected" else str(out / "base.pt")
        film = ["--film", "@film", "--guide", "@guide"] if name == "selected" else ["--film", "none"]
        todo.append((f"vg_{name}", ["fit", "--dataset", "vgmidi", "--init", init, *film, "--epochs", "15",
                                    "--budget-min", str(budget / 2), "--balance", "--test", "--lr", "5e-5"] + extra[:2]))
        todo.append((f"cv_{name}", ["cv", "--dataset", "vgmidi", "--init", init, *film, "--epochs", "8",
                                    "--budget-min", str(budget / 8), "--balance", "--lr", "5e-5"] + extra[:2]))
    if recipe == "frozen":
        todo.append(("noaug", fit + ["--film", "none", "--epochs", "30", "--no-augment"]))
    return todo


def select(out: Path) -> dict:
    """The variant with the best EMOPIA valid 4Q accuracy (ties: macro-F1, then fewer parameters)."""
    results = {n: json.loads((out / f"{n}.json").read_text()) for n in VARIANTS if (out / f"{n}.json").exists()}
    if not results:
        raise SystemExit("select: no EMOPIA variant has finished")
    order = list(VARIANTS)
    best = max(results, key=lambda n: (results[n]["valid"]["acc_4q"], results[n]["valid"]["macro_f1"], -order.index(n)))
    sel = {"selected": best, "film": VARIANTS[best][0], "guide": VARIANTS[best][1], "checkpoint": str(out / f"{best}.pt"),
           "epochs": results[best]["args"]["epochs"],
           "valid_acc": {n: r["valid"]["acc_4q"] for n, r in results.items()}}
    (out / "selected.json").write_text(json.dumps(sel, indent=1))
    return sel


def ship(out: Path, models_dir: Path, golden: Path, version: int = 1) -> dict:
    """Export the selected EMOPIA model as emotion-v<version> with its metrics in the card, and the golden answers."""
    from .emotion_export import export_emotion, write_golden

    sel = json.loads((out / "selected.json").read_text())
    run = json.loads((out / f"{sel['selected']}.json").read_text())
    m = {"selection": {"variant": sel["selected"], "film_layer": run.get("film_layer"),
                       "by": "EMOPIA valid 4Q accuracy", "valid_acc_of_variants": sel["valid_acc"]},
         "training": {k: run.get(k) for k in ("epochs_run", "minutes", "train_blocks", "crops")},
         "emopia_valid": run["valid"], "emopia_test": run["test"]}
    for name, key in (("vg_selected", "vgmidi_test_after_vgmidi_finetune"), ("cv_selected", "vgmidi_cv5")):
        if (out / f"{name}.json").exists():
            r = json.loads((out / f"{name}.json").read_text())
            m[key] = r.get("test") or r.get("cv")
    if (out / "probe.json").exists():
        m["probe_valid_acc_by_block"] = json.loads((out / "probe.json").read_text())["probe_valid_acc"]
    card = export_emotion(Path(sel["checkpoint"]), models_dir, version=version, metrics=m, int8=True)
    write_golden(models_dir / f"emotion-v{version}.onnx", golden)
    return {"shipped": sel["selected"], "sha256": card["sha256"], "emopia_test": run["test"]["acc_4q"]}


def figures(out: Path, dest: Path) -> list[str]:
    """Test confusion matrices of every finished EMOPIA/VGMIDI run (and the LR baseline) as PNGs."""
    from .emotion_eval import plot_confusion

    made = []
    runs = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json") if p.stem != "selected"}
    if "baseline" in runs:
        for ds in ("emopia", "vgmidi"):
            m = runs["baseline"][ds]["test"]
            made.append(str(plot_confusion(m["confusion"], f"LR baseline, {ds} test (acc {m['acc_4q']:.3f})",
                                           dest / f"emotion_lr_{ds}_test.png")))
    for name, r in runs.items():
        if "test" in r and name != "baseline":
            ds = "vgmidi" if name.startswith("vg_") else "emopia"
            m = r["test"]
            made.append(str(plot_confusion(m["confusion"], f"{name}, {ds} test (acc {m['acc_4q']:.3f})",
                                           dest / f"emotion_{name}_{ds}_test.png")))
    return made


def table(out: Path, baseline: Path | None = None) -> str:
    """Markdown rows of every finished run: EMOPIA valid/test, VGMIDI test and 5-fold CV."""
    def cells(m: dict | None) -> str:
        if not m:
            return "– | – | – | –"
        return " | ".join(f"{m[k]:.3f}" for k in ("acc_4q", "acc_valence", "acc_arousal", "macro_f1"))

    def cv_cells(cv: dict | None) -> str:
        if not cv:
            return "–"
        return f"{cv['acc_4q'][0]:.3f} ± {cv['acc_4q'][1]:.3f} (F1 {cv['macro_f1'][0]:.3f})"

    rows = ["| model | EMOPIA valid 4Q | EMOPIA test 4Q | valence | arousal | macro-F1 | VGMIDI test 4Q | "
            "valence | arousal | macro-F1 | VGMIDI 5-fold CV 4Q |", "|" + "---|" * 11]
    runs = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json") if p.stem not in ("selected",)}
    if baseline and baseline.exists():
        b = json.loads(baseline.read_text())
        rows.append(f"| logistic regression on clip statistics (ours) | {b['emopia']['valid_acc_by_l2'][str(b['emopia']['l2'])]:.3f} "
                    f"| {cells(b['emopia']['test'])} | {cells(b['vgmidi']['test'])} | {cv_cells(b['vgmidi'].get('cv5'))} |")
    for name in list(VARIANTS) + ["noaug"]:
        r = runs.get(name)
        if not r:
            continue
        rows.append(f"| {name} | {r['valid']['acc_4q']:.3f} | {cells(r.get('test'))} | – | – | – | – | – |")
    for name in ("vg_selected", "vg_base"):
        r = runs.get(name)
        if r:
            cv = runs.get(name.replace("vg_", "cv_"), {}).get("cv")
            rows.append(f"| {name} (VGMIDI fine-tune) | – | – | – | – | – | {cells(r.get('test'))} | {cv_cells(cv)} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", default=None, help="run only these steps")
    ap.add_argument("--recipe", choices=sorted(RECIPES), default="frozen")
    ap.add_argument("--version", type=int, default=1, help="--ship: the version to write (emotion-v<N>)")
    ap.add_argument("--budget-min", type=float, default=4.0, help="budget of one EMOPIA step (minutes)")
    ap.add_argument("--threads", default="1", help="torch threads of each step")
    ap.add_argument("--init", default="pretrained")
    ap.add_argument("--out", type=Path, default=Path("runs/emotion"))
    ap.add_argument("--limit", default="0", help="clips per split (smoke tests only)")
    ap.add_argument("--table", action="store_true", help="print the markdown table of finished runs and stop")
    ap.add_argument("--figures", type=Path, default=None, help="save test confusion matrices here and stop")
    ap.add_argument("--ship", type=Path, default=None, metavar="MODELS_DIR",
                    help="export the selected model as emotion-v<version> into MODELS_DIR (and tests/golden) and stop")
    args = ap.parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.table:
        print(table(out, out / "baseline.json"))
        return 0
    if args.figures:
        print(json.dumps(figures(out, args.figures)))
        return 0
    if args.ship:
        golden = Path(__file__).resolve().parents[2] / "tests" / "golden" / "emotion_examples.json"
        print(json.dumps(ship(out, args.ship, golden, args.version)))
        return 0
    for name, argv_ in steps(args.budget_min, out, args.recipe):
        if args.only is not None and name not in args.only:
            continue
        if name == "select":
            print(json.dumps(select(out)), flush=True)
            continue
        if (out / f"{name}.json").exists():
            print(json.dumps({"step": name, "skipped": "done"}), flush=True)
            continue
        sel = json.loads((out / "selected.json").read_text()) if (out / "selected.json").exists() else None
        if any(a.startswith("@") for a in argv_):
            if sel is None:
                print(json.dumps({"step": name, "skipped": "no selection yet"}), flush=True)
                continue
            argv_ = [{"@selected": sel["checkpoint"], "@film": sel["film"], "@guide": sel.get("guide", "mode"),
                      "@epochs": str(sel["epochs"])}.get(a, a)
                     for a in argv_]
        if "--init" not in argv_:
            argv_ = argv_ + ["--init", args.init]
        emotion_train.main(argv_ + ["--name", name, "--out", str(out), "--limit", args.limit, "--threads", args.threads])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

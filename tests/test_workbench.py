"""The workbench entry point `python -m training MODEL STEP` and its run configs (no torch needed)."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from conftest import REPO


def _training(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "training", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_help_lists_every_model_and_its_steps():
    out = _training("--help")
    assert out.returncode == 0, out.stderr
    for model in ("encoder", "emotion", "chords", "harmonize", "perform"):
        assert f"\n  {model}\n" in out.stdout
    for step in ("pretrain", "export", "fuse", "cache", "train", "data"):
        assert f"    {step} " in out.stdout


def test_unknown_model_or_step_is_one_line_and_exit_2():
    out = _training("tempo", "train")
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0
    assert "unknown model 'tempo'" in out.stderr and "emotion" in out.stderr
    out = _training("emotion", "ship")
    assert out.returncode == 2 and "unknown step 'ship' for emotion; one of baseline, train, fuse, export" in out.stderr


def test_a_step_gets_its_own_options():
    out = _training("emotion", "export", "--help")
    assert out.returncode == 0 and "python -m training emotion export" in out.stdout and "--from-onnx" in out.stdout


def test_run_config_is_saved_beside_the_outputs(tmp_path):
    sys.path.insert(0, str(REPO))
    from training.common.config import save_run_config

    path = save_run_config("chords", "train", argparse.Namespace(steps=3, out=tmp_path / "run"), tmp_path / "run")
    cfg = json.loads(path.read_text())
    assert path == tmp_path / "run" / "run-config.json"
    assert cfg["model"] == "chords" and cfg["step"] == "train"
    assert cfg["options"] == {"steps": 3, "out": str(tmp_path / "run")} and cfg["started"]

"""Pictures: `result.plot()`, `piece.plot()`, `run --plot`. The image is written with the size asked
for, and one small golden image per task is compared with a tolerance (fonts and antialiasing differ
a little between matplotlib versions; a missing overlay or a moved roll does not pass).

After an intended change to a picture, rewrite the goldens with
`SYMBOLIC_AI_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_plot.py` and look at them.
"""
from __future__ import annotations

import os
import struct
import sys

import numpy as np
import pytest

import symbolic_ai as sai
from conftest import EXAMPLES, GOLDEN
from symbolic_ai import cli
from symbolic_ai.errors import InputError, MissingDependencyError

pytest.importorskip("matplotlib")

UPDATE = os.environ.get("SYMBOLIC_AI_UPDATE_GOLDEN") == "1"
SIZE = {"width": 6.0, "height": 3.0, "dpi": 50}  # 300 × 150 pixels
TOLERANCE = 0.04  # RMS of the grey-level difference, 0..1; an overlay removed costs more than 0.05
PARAMS = {"harmonize": {"track": 0}}


def png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def grey(path) -> np.ndarray:
    from matplotlib import image

    rgba = image.imread(path)
    return rgba[..., :3].mean(axis=2)


@pytest.fixture(scope="module")
def melody():
    return sai.load(EXAMPLES / "folk_melody.mid").slice_bars(0, 8)


@pytest.mark.parametrize("task", ["key", "chords", "harmonize", "perform", "emotion"])
def test_golden_picture_per_task(task, melody, tmp_path):
    result = sai.run(task, melody, **PARAMS.get(task, {}))
    out = tmp_path / f"{task}.png"
    fig = result.plot(out, score=melody, title=task, **SIZE)
    assert png_size(out) == (300, 150)
    assert fig.get_size_inches().tolist() == [6.0, 3.0]
    golden = GOLDEN / f"plot.{task}.png"
    if UPDATE:
        golden.write_bytes(out.read_bytes())
    assert golden.exists(), f"{golden.name} is missing: run with SYMBOLIC_AI_UPDATE_GOLDEN=1 to write it"
    rms = float(np.sqrt(((grey(out) - grey(golden)) ** 2).mean()))
    assert rms < TOLERANCE, f"{task}: the picture differs from {golden.name} (RMS {rms:.3f})"


def test_the_comparison_sees_a_missing_overlay(melody, tmp_path):
    """The tolerance is not so loose that the key bands (the key task's answer) could go missing."""
    bare, keyed = tmp_path / "bare.png", tmp_path / "keyed.png"
    melody.plot(bare, title="key", **SIZE)
    sai.run("key", melody).plot(keyed, title="key", **SIZE)
    assert float(np.sqrt(((grey(bare) - grey(keyed)) ** 2).mean())) > TOLERANCE


def test_panels_follow_the_task(melody):
    perform = sai.run("perform", melody)
    assert len(perform.plot(score=melody).axes) == 3  # roll, velocity, tempo
    assert len(perform.plot().axes) == 2  # no score: no tempo curve
    assert len(sai.run("emotion", melody).plot().axes) == 2  # roll, valence/arousal
    assert len(sai.run("chords", melody).plot().axes) == 2  # labels, roll
    fig = melody.plot()
    assert len(fig.axes) == 1 and fig.get_size_inches()[0] == 12.0


def test_cli_run_plot(tmp_path, capsys):
    out = tmp_path / "key.png"
    assert cli.main(["run", "key", str(EXAMPLES / "folk_melody.mid"), "--plot", str(out)]) == 0
    assert png_size(out) == (1200, 380)
    folder = tmp_path / "pics"
    assert cli.main(["run", "emotion", str(EXAMPLES / "folk_melody.mid"), str(EXAMPLES / "folk_melody.abc"),
                     "--plot", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["folk_melody_abc.emotion.png", "folk_melody_mid.emotion.png"]
    assert cli.main(["run", "key", str(EXAMPLES / "folk_melody.mid"), "--plot", str(tmp_path / "k.gif")]) == 2
    assert "cannot draw a .gif picture" in capsys.readouterr().err


def test_bad_arguments(melody, tmp_path):
    from symbolic_ai.plot import plot

    with pytest.raises(InputError, match="expected a Piece or a Result"):
        plot("a.mid")
    with pytest.raises(InputError, match="width must be"):
        melody.plot(width=0.1)


def test_missing_matplotlib_names_the_extra(melody, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"symbolic_ai\[plots\]"):
        melody.plot()

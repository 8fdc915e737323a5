"""End-to-end: the README's quick start works on the shipped examples."""
from __future__ import annotations

import json
import subprocess
import sys

import symbolic_ai as sai
from conftest import EXAMPLES


def test_readme_python_quickstart(tmp_path):
    piece = sai.load(EXAMPLES / "chorale_bwv66_6.musicxml")
    assert piece.pickup_beats == 1.0
    result = sai.run("key", piece)
    assert result.data["key"] == "F# minor"
    out = sai.save(result.piece, tmp_path / "keys.mid")
    again = sai.load(out)
    assert [a.value for a in again.annotations_of("key")] == [s["key"] for s in result.data["local"]]


def test_cli_key_json_on_a_bach_chorale():
    from music21 import corpus

    path = corpus.getWork("bwv269")
    out = subprocess.run([sys.executable, "-m", "symbolic_ai.cli", "run", "key", str(path), "--json"],
                         capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    assert doc["task"] == "key" and doc["result"]["key"] == "G major"

"""The `chords` task: features, template baseline, the shipped model, outputs and bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

import symbolic_ai as sai
from symbolic_ai import harmony
from symbolic_ai.errors import InputError
from symbolic_ai.piece import Piece, Track, notes_from_columns
from symbolic_ai.registry import run
from symbolic_ai.tasks.chords import decode, frame_features, recognize, template_scores

# C | F/A | G7 | C   (two bars of each, block chords re-struck every beat, with a bass)
PROGRESSION = [("C", [48, 60, 64, 67]), ("F/A", [45, 60, 65, 69]), ("G7", [43, 59, 62, 65, 67]),
               ("C", [48, 60, 64, 67])]


def progression_piece(beats_per_chord: int = 8) -> Piece:
    on, dur, pitch = [], [], []
    for i, (_, ps) in enumerate(PROGRESSION):
        for b in range(beats_per_chord):
            for p in ps:
                on.append(i * beats_per_chord + b)
                dur.append(1.0)
                pitch.append(p)
    notes = notes_from_columns(onset_beat=on, duration_beat=dur, pitch=pitch, velocity=[70] * len(on))
    return Piece(notes=notes, metadata={"source": "progression"})


def test_frame_features():
    f = frame_features(progression_piece())
    assert f.shape == (32, 37)
    assert np.allclose(f[0, :12][[0, 4, 7]], [1.0, 0.5, 0.5]) and f[0, :12].sum() == pytest.approx(2.0)  # C doubled
    assert f[8, 12 + 9] == 1.0            # A in the bass under F/A
    assert f[0, 24:36][[0, 4, 7]].min() > 0 and f[0, 36] == 1.0


def test_template_baseline_finds_the_progression():
    rows, keys = recognize(progression_piece(), method="template")
    assert [r["symbol"] for r in rows] == ["C", "F/A", "G7", "C"]
    assert [r["roman"] for r in rows] == ["I", "IV6", "V7", "I"]
    assert keys["key"] == "C major"
    assert rows[1]["start_beat"] == 8.0 and rows[1]["end_beat"] == 16.0


def test_decode_switch_cost_merges_short_blips():
    scores = np.full((6, harmony.N_CLASSES), -5.0)
    scores[:, 0] = 0.0
    scores[3, 0], scores[3, 5] = -1.0, 0.0  # one frame slightly prefers another chord
    assert len(decode(scores, np.zeros((6, 12)), switch_cost=0.0)) == 3
    assert len(decode(scores, np.zeros((6, 12)), switch_cost=2.0)) == 1


def test_silence_is_no_chord():
    p = progression_piece()
    notes = p.notes.copy()
    notes["onset_beat"] = np.where(notes["onset_beat"] >= 16, notes["onset_beat"] + 4, notes["onset_beat"])
    feats = frame_features(p.replace(notes=notes))
    assert feats[17, 36] == 0 and np.argmax(template_scores(feats)[17]) == harmony.N_CLASS


def test_model_task_json_and_annotations():
    res = run("chords", progression_piece())
    rows = res.data["chords"]
    for r in rows:
        assert {"start_beat", "end_beat", "start_sec", "end_sec", "symbol", "root", "quality", "bass",
                "roman"} <= set(r)
    symbols = [r["symbol"] for r in rows]
    assert symbols[0] == "C" and symbols[-1] == "C" and "G7" in symbols
    assert [a.value for a in res.piece.annotations_of("chord")] == symbols
    assert rows[0]["start_sec"] == 0.0 and rows[-1]["end_sec"] == pytest.approx(16.0)
    json.dumps(res.to_dict())


def test_outputs_midi_markers_and_musicxml_harmony(tmp_path):
    res = run("chords", progression_piece(), method="template")
    sai.save(res.piece, tmp_path / "out.mid")
    back = sai.load(tmp_path / "out.mid")
    assert [a.value for a in back.annotations_of("chord")] == ["C", "F/A", "G7", "C"]
    sai.save(res.piece, tmp_path / "out.musicxml")
    xml = (tmp_path / "out.musicxml").read_text()
    assert xml.count("<harmony") == 4 and "<bass-step>A</bass-step>" in xml


def test_bad_input():
    with pytest.raises(InputError, match="no pitched notes"):
        run("chords", Piece())
    drums = Piece(notes=notes_from_columns(onset_beat=[0, 1], duration_beat=[1, 1], pitch=[36, 38]),
                  tracks=(Track(0, "kit", is_drum=True),))
    with pytest.raises(InputError, match="no pitched notes"):
        run("chords", drums, method="template")


def test_performance_without_beats():
    p = progression_piece()
    notes = p.notes.copy()
    notes["onset_beat"] = notes["duration_beat"] = np.nan
    perf = Piece(notes=notes, tempos=(), time_signatures=())
    rows, _ = recognize(perf, method="template")
    assert rows[0]["symbol"] == "C" and np.isnan(rows[0]["start_beat"]) and rows[1]["start_sec"] == 4.0


def test_example_files_run():
    from conftest import EXAMPLES

    res = run("chords", sai.load(EXAMPLES / "chorale_bwv66_6.musicxml"))
    assert res.data["key"] in ("F# minor", "A major")
    assert len(res.data["chords"]) > 10


@pytest.mark.data
def test_bps_fh_template_is_sane(data_root):
    from symbolic_ai.data import iter_examples
    from training.common.chord_data import chord_spans, frame_targets

    ex = next(e for e in iter_examples("bps_fh", split="valid"))
    piece = ex.load()
    feats = frame_features(piece)
    ref, _ = frame_targets(chord_spans(piece, "bps_fh"), len(feats))
    path = np.empty(len(feats), dtype=int)
    for s, e, c, _ in decode(template_scores(feats), feats[:, 12:24].astype(float), 0.35):
        path[s:e] = c
    ok = ref != harmony.N_CLASS
    assert (path[ok] // 11 == ref[ok] // 11).mean() > 0.5

"""Interop with music21 and pretty_midi (round trips on the examples, music21's corpus and the
datasets), multi-tune ABC (`load(path, tune=N)`, `load_all`, `run --tune`), and the edit helpers
(transpose, slice_bars, select_tracks, with_tempo)."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import symbolic_ai as sai
from conftest import EXAMPLES
from symbolic_ai import cli, interop
from symbolic_ai.errors import InputError, MissingDependencyError
from symbolic_ai.piece import Annotation, KeySignature, Piece, Tempo, Track, notes_from_columns

music21 = pytest.importorskip("music21")
pretty_midi = pytest.importorskip("pretty_midi")

EXAMPLE_FILES = ["folk_melody.mid", "folk_melody.abc", "maple_leaf_rag.mid", "chorale_bwv66_6.musicxml"]
MUSIC21_KINDS = ("chord",)  # what a music21 Score notates of the annotations (markers, pedal: not)
FIELDS = ("pitch", "onset_beat", "duration_beat", "velocity", "track")


def assert_same_music(a: Piece, b: Piece, kinds: tuple[str, ...] | None = None, grid: float = 0.0) -> None:
    """Same notes (beats, seconds, velocities, tracks), tracks, metre, keys and annotations (of
    `kinds`; all by default), beats to within half of `grid` (notation's quantisation). An unnamed
    track may come back named ('track 0')."""
    assert len(a.notes) == len(b.notes)
    oa = np.lexsort((a.notes["pitch"], a.notes["onset_beat"], a.notes["track"]))
    ob = np.lexsort((b.notes["pitch"], b.notes["onset_beat"], b.notes["track"]))
    for f in (*FIELDS, "onset_sec", "duration_sec"):
        tol = 1e-6 + (grid if f.endswith("_beat") else grid * 60 / min(t.qpm for t in a.tempos) if grid else 0.0)
        np.testing.assert_allclose(a.notes[f][oa], b.notes[f][ob], atol=tol, err_msg=f)
    assert [(t.program, t.is_drum, t.name or u.name) for t, u in zip(a.tracks, b.tracks)] == \
        [(u.program, u.is_drum, u.name) for u in b.tracks]
    assert a.time_signatures == b.time_signatures
    # MIDI stores no "unstated" mode: a key signature without one comes back major
    assert [(k.start_beat, k.fifths, k.mode or ("major" if u.mode == "major" else "")) for k, u in
            zip(a.key_signatures, b.key_signatures)] == [(u.start_beat, u.fifths, u.mode) for u in b.key_signatures]
    assert a.pickup_beats == b.pickup_beats
    def labels(p: Piece) -> list[tuple[str, float, float, str]]:
        return sorted((x.kind, float(x.start_beat), float(x.end_beat), repr(x.value))
                      for x in p.annotations if kinds is None or x.kind in kinds)

    la, lb = labels(a), labels(b)
    assert [(k, v) for k, _, _, v in la] == [(k, v) for k, _, _, v in lb]
    np.testing.assert_allclose([x[1:3] for x in la], [x[1:3] for x in lb], atol=1e-6 + grid)


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_pretty_midi_round_trip_on_examples(name):
    piece = sai.load(EXAMPLES / name)
    pm = piece.to_pretty_midi()
    assert isinstance(pm, pretty_midi.PrettyMIDI)
    assert sum(len(i.notes) for i in pm.instruments) == len(piece.notes)
    back = Piece.from_pretty_midi(pm)
    assert_same_music(piece, back)
    assert back.metadata["source"] == "<pretty_midi>"
    # pretty_midi's own view agrees on the seconds
    starts = sorted(n.start for i in pm.instruments for n in i.notes)
    np.testing.assert_allclose(starts, np.sort(piece.notes["onset_sec"]), atol=1e-3)


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_music21_round_trip_on_examples(name):
    piece = sai.load(EXAMPLES / name)
    score = piece.to_music21()
    assert isinstance(score, music21.stream.Score) and len(score.parts) == len(piece.tracks)
    assert_same_music(piece, Piece.from_music21(score), kinds=MUSIC21_KINDS)


def test_a_performance_in_seconds_survives_pretty_midi():
    perf = Piece(notes=notes_from_columns(pitch=[60, 64, 67], onset_sec=[0.0, 0.31, 1.27], duration_sec=[0.5, 0.2, 1.0],
                                          velocity=[40, 80, 100]), tempos=())
    back = sai.load(perf.to_pretty_midi())
    assert not back.has_beats
    np.testing.assert_allclose(back.notes["onset_sec"], perf.notes["onset_sec"], atol=1e-3)
    assert back.notes["velocity"].tolist() == [40, 80, 100]


def test_load_takes_a_pretty_midi_built_in_a_script():
    pm = pretty_midi.PrettyMIDI(initial_tempo=90)
    piano = pretty_midi.Instrument(program=0, name="piano")
    piano.notes += [pretty_midi.Note(velocity=70, pitch=p, start=i * 0.5, end=i * 0.5 + 0.4) for i, p in enumerate([60, 62, 64])]
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="kit")
    drums.notes.append(pretty_midi.Note(velocity=100, pitch=36, start=0.0, end=0.1))
    pm.instruments += [piano, drums]
    piece = sai.load(pm)
    assert [t.is_drum for t in piece.tracks] == [False, True]
    assert piece.tempos[0].qpm == pytest.approx(90, rel=1e-5)  # MIDI stores whole microseconds a beat
    mel = piece.notes[piece.notes["track"] == 0]
    np.testing.assert_allclose(mel["onset_sec"], [0.0, 0.5, 1.0], atol=1e-3)
    np.testing.assert_allclose(mel["onset_beat"], [0.0, 0.75, 1.5], atol=1e-3)  # 90 qpm: 1.5 beats a second
    assert sai.run("key", piece).data["key"]


def test_load_takes_music21_streams_and_opus_tunes():
    score = music21.corpus.parse("bach/bwv66.6")
    piece = sai.load(score)
    assert len(piece.tracks) == 4 and len(piece.notes) > 100
    assert_same_music(piece, Piece.from_music21(piece.to_music21()), kinds=MUSIC21_KINDS)
    opus = music21.converter.parse(EXAMPLES.parent / "tests" / "data" / "tune.abc")  # one tune: a Score
    assert len(sai.load(opus).notes) > 0
    three = music21.converter.parse(_three_tunes(), format="abc")
    assert isinstance(three, music21.stream.Opus)
    assert sai.load(three, tune=5).notes["pitch"].min() == sai.load(three).notes["pitch"].min() + 2
    with pytest.raises(InputError, match="no tune number 4"):
        sai.load(three, tune=4)


@pytest.mark.parametrize("bad", [42, "examples", None])
def test_load_refuses_other_objects_and_directories(bad):
    with pytest.raises(InputError):
        sai.load(bad if bad != "examples" else EXAMPLES)


def test_missing_pretty_midi_names_the_extra(monkeypatch):
    piece = sai.load(EXAMPLES / "folk_melody.mid")
    monkeypatch.setitem(sys.modules, "pretty_midi", None)
    with pytest.raises(MissingDependencyError, match=r"symbolic_ai\[pretty_midi\]"):
        interop.to_pretty_midi(piece)


@pytest.mark.data
def test_round_trips_on_corpus_pieces(data_root):
    files = [data_root / "nottingham" / "MIDI" / "jigs12.mid", data_root / "pop909" / "POP909" / "001" / "001.mid",
             data_root / "chord_melody_dataset" / "songs" / "angie.mxl"]
    for f in files:
        if not f.exists():
            pytest.skip(f"{f} not found")
        piece = sai.load(f)
        assert_same_music(piece, Piece.from_pretty_midi(piece.to_pretty_midi()))
        # notation puts unquantised MIDI (POP909) on the 1/48-quarter grid: within 1/96 (durations: 2 × 1/96)
        assert_same_music(piece, Piece.from_music21(piece.to_music21()), kinds=MUSIC21_KINDS, grid=2 / 96)


# -- multi-tune ABC ----------------------------------------------------------------------------
def _three_tunes() -> str:
    head = "% a file header\nL:1/8\n\n"
    tune = "X:{n}\nT:Tune {n}\nM:4/4\nK:{k}\n{body}|]\n\n"
    return head + "".join(tune.format(n=n, k=k, body=b) for n, k, b in
                          [(1, "C", '"C"CDEF GABc'), (2, "G", '"G"GABc defg'), (5, "D", '"D"DEFG ABcd')])


@pytest.fixture
def tunes_abc(tmp_path):
    path = tmp_path / "three.abc"
    path.write_text(_three_tunes())
    return path


def test_load_picks_a_tune_by_its_x_number(tunes_abc):
    first, fifth = sai.load(tunes_abc), sai.load(tunes_abc, tune=5)
    assert first.metadata["tune"] == 1 and first.metadata["title"] == "Tune 1"
    assert fifth.metadata["tune"] == 5 and fifth.metadata["title"] == "Tune 5"
    assert first.notes["pitch"].min() == 60 and fifth.notes["pitch"].min() == 62
    assert fifth.annotations_of("chord")[0].value == "D"
    with pytest.raises(InputError, match=r"three\.abc: no tune X:4; the file has 3 tune\(s\): X:1, 2, 5"):
        sai.load(tunes_abc, tune=4)
    with pytest.raises(InputError, match="picks a tune of an ABC file"):
        sai.load(EXAMPLES / "folk_melody.mid", tune=1)


def test_load_all_reads_every_tune(tunes_abc):
    pieces = sai.load_all(tunes_abc)
    assert [p.metadata["tune"] for p in pieces] == [1, 2, 5]
    assert [p.metadata["title"] for p in pieces] == ["Tune 1", "Tune 2", "Tune 5"]
    assert [p.key_signatures[0].fifths for p in pieces] == [0, 1, 2]
    assert len(sai.load_all(EXAMPLES / "folk_melody.mid")) == 1
    single = sai.load_all(EXAMPLES / "folk_melody.abc")
    assert len(single) == 1 and "tune" not in single[0].metadata


def test_cli_run_tune(tunes_abc, capsys):
    assert cli.main(["run", "key", str(tunes_abc), "--tune", "2", "--json"]) == 0
    assert '"key":"G major"' in capsys.readouterr().out
    assert cli.main(["run", "key", str(tunes_abc), "--tune", "9"]) == 2
    assert "no tune X:9" in capsys.readouterr().err


@pytest.mark.data
def test_a_tune_deep_in_a_corpus_file(data_root):
    path = data_root / "nottingham" / "ABC_cleaned" / "jigs.abc"
    if not path.exists():
        pytest.skip(f"{path} not found")
    piece = sai.load(path, tune=120)
    assert piece.metadata["tune"] == 120 and piece.metadata["title"] == "White Heather Jig"
    assert len(piece.notes) > 20


# -- edits -------------------------------------------------------------------------------------
def _lead_sheet() -> Piece:
    n = notes_from_columns(pitch=[67, 71, 74, 36, 72], onset_beat=[0, 1, 4, 0, 8], duration_beat=[1, 1, 4, 1, 4],
                           track=[0, 0, 0, 1, 0], velocity=[60, 70, 80, 100, 90])
    return Piece(notes=n, tracks=(Track(0, "melody"), Track(0, "kit", is_drum=True)),
                 tempos=(Tempo(0.0, 120.0), Tempo(4.0, 60.0)), key_signatures=(KeySignature(0.0, 1, "major"),),
                 annotations=(Annotation("chord", 0, 4, "G7/B"), Annotation("key", 0, 12, "G major"),
                              Annotation("roman", 0, 4, "G major: V7/IV"), Annotation("chord", 4, 8, "N")))


def test_transpose_moves_pitched_notes_keys_and_labels():
    p = _lead_sheet()
    up = p.transpose(2)
    assert up.notes["pitch"].tolist() == [69, 73, 76, 36, 74]  # the kick drum stays
    assert up.key_signatures[0].fifths == 3
    assert [a.value for a in up.annotations] == ["A7/C#", "A major", "A major: V7/IV", "N"]
    down = p.transpose(-1)
    assert down.key_signatures[0].fifths == 6 and down.annotations[0].value == "F#7/A#"  # F# major, not Gb
    assert p.transpose(12).transpose(-12).notes.tobytes() == p.notes.tobytes()
    with pytest.raises(InputError, match=r"transpose\(\+60\): note id 1 \(pitch 71\) would reach pitch 131"):
        p.transpose(60)
    with pytest.raises(InputError, match="semitones must be an integer"):
        p.transpose(1.5)


def test_slice_bars_moves_the_bars_to_zero():
    p = _lead_sheet()
    s = p.slice_bars(1, 2)  # beats 4..8
    assert s.notes["pitch"].tolist() == [74] and s.notes["onset_beat"].tolist() == [0.0]
    assert s.notes["id"].tolist() == [2]
    assert s.tempos == (Tempo(0.0, 60.0),) and s.notes["onset_sec"][0] == 0.0 and s.notes["duration_sec"][0] == 4.0
    assert [(a.kind, a.start_beat, a.end_beat) for a in s.annotations] == [("key", 0.0, 4.0), ("chord", 0.0, 4.0)]
    rest = p.slice_bars(2)
    assert rest.notes["pitch"].tolist() == [72] and rest.notes["bar"].tolist() == [0]
    chorale = sai.load(EXAMPLES / "chorale_bwv66_6.musicxml")
    two = chorale.slice_bars(0, 2)  # the pickup and the first full bar
    assert set(two.notes["bar"].tolist()) == {0, 1} and two.pickup_beats == chorale.pickup_beats
    assert len(two.notes) == int(np.isin(chorale.notes["bar"], [0, 1]).sum())
    for bad in [(-1, 2), (2, 2), (99, None)]:
        with pytest.raises(InputError, match="slice_bars"):
            p.slice_bars(*bad)
    perf = Piece(notes=notes_from_columns(pitch=[60], onset_sec=[0.0], duration_sec=[1.0]), tempos=())
    with pytest.raises(InputError, match="no beat grid"):
        perf.slice_bars(0, 1)


def test_select_tracks_by_name_or_index():
    p = _lead_sheet()
    kit = p.select_tracks(["kit"])
    assert kit.tracks == (Track(0, "kit", is_drum=True),) and kit.notes["pitch"].tolist() == [36]
    assert kit.notes["track"].tolist() == [0]
    swapped = p.select_tracks([1, 0])
    assert [t.name for t in swapped.tracks] == ["kit", "melody"]
    assert swapped.notes["track"][swapped.notes["pitch"] == 36].tolist() == [0]
    with pytest.raises(InputError, match=r"no track 'bass'; the piece has tracks 0..1 named 'melody', 'kit'"):
        p.select_tracks(["bass"])
    with pytest.raises(InputError, match="different tracks"):
        p.select_tracks([0, 0])


def test_with_tempo_keeps_beats_and_moves_seconds():
    p = _lead_sheet()
    fast = p.with_tempo(240)
    assert fast.tempos == (Tempo(0.0, 240.0),)
    np.testing.assert_allclose(fast.notes["onset_beat"], p.notes["onset_beat"])
    np.testing.assert_allclose(fast.notes["onset_sec"], p.notes["onset_beat"] / 4)
    for bad in (0.5, float("nan"), "fast", True):
        with pytest.raises(InputError, match="with_tempo: qpm must be"):
            p.with_tempo(bad)


def test_documented_names_and_lazy_optional_imports():
    """`from symbolic_ai import notes_from_columns` works as documented, and loading, running and
    batching a file imports none of the optional packages (each is imported where it is used)."""
    import subprocess

    code = ("import sys, symbolic_ai as sai\n"
            "from symbolic_ai import notes_from_columns, empty_notes, load_all, batch\n"
            "p = sai.Piece(notes=notes_from_columns(pitch=[60, 64, 67], onset_beat=[0, 1, 2], duration_beat=[1, 1, 2]))\n"
            f"sai.run('key', sai.load({str(EXAMPLES / 'folk_melody.mid')!r}))\n"
            "list(sai.batch('key', [], jobs=1))\n"
            "print(sorted(m for m in ('matplotlib', 'pretty_midi', 'ray', 'pyarrow', 'tqdm', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"

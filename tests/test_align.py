"""`align`: recordings ↔ scores, on tiny piano-like audio synthesized here (decaying harmonic tones)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("librosa")

from symbolic_ai import io, registry  # noqa: E402
from symbolic_ai.cli import main  # noqa: E402
from symbolic_ai.errors import InputError, ParameterError  # noqa: E402
from symbolic_ai.io.audio import Audio, load_audio  # noqa: E402
from symbolic_ai.piece import Piece, Tempo, TimeSignature, empty_notes  # noqa: E402
from symbolic_ai.tasks.align import align_audio  # noqa: E402

SR = 22050
# a melody over chords: (beat, duration, pitches); a repeated chord at beats 8 and 9
EVENTS = [(0, 1, (60, 48)), (1, 1, (64,)), (2, 1, (67, 55)), (3, 1, (72,)), (4, 2, (71, 43, 50)), (6, 1, (69,)),
          (7, 1, (67,)), (8, 1, (65, 57, 53)), (9, 1, (65, 57, 53)), (10, 1, (64,)), (11, 1, (62, 55)),
          (12, 0.5, (60,)), (12.5, 0.5, (62,)), (13, 1, (64,)), (14, 2, (60, 48, 52, 55))]
OTHER = [(b, d, tuple(p + 6 for p in ps)) for b, d, ps in EVENTS[::-1]]  # other music: transposed, reversed


def score_of(events: list, qpm: float = 120.0) -> Piece:
    rows = [(b, d, p) for b, d, ps in events for p in ps]
    n = empty_notes(len(rows))
    n["onset_beat"] = [r[0] for r in rows]
    n["duration_beat"] = [r[1] for r in rows]
    n["onset_sec"] = n["duration_sec"] = np.nan
    n["pitch"] = [r[2] for r in rows]
    n["velocity"] = 80
    n["id"] = np.arange(len(rows))
    n["bar"], n["beat_in_bar"] = -1, np.nan
    return Piece(notes=n, tempos=(Tempo(0.0, qpm),), time_signatures=(TimeSignature(0.0, 4, 4),))


def performed_times(beats: np.ndarray, lead: float) -> np.ndarray:
    """A rubato performance: about 100 qpm, slowing down towards the end, after `lead` seconds of silence."""
    return lead + 0.6 * beats + 0.012 * beats ** 2


def render(score: Piece, lead: float = 1.0, tail: float = 0.5, gain: float = 0.3) -> np.ndarray:
    """Piano-like tones (6 decaying partials) at the performed times of the score's notes."""
    on = performed_times(score.notes["onset_beat"], lead)
    end = float(on.max()) + 2.0 + tail
    y = np.zeros(int(end * SR), dtype=np.float64)
    t = np.arange(int(2.0 * SR)) / SR
    for o, p in zip(on, score.notes["pitch"]):
        f0 = 440.0 * 2 ** ((int(p) - 69) / 12)
        tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 7) if f0 * k < SR / 2)
        a = int(o * SR)
        y[a:a + len(t)] += tone * np.exp(-t / 0.5) * np.minimum(1.0, t / 0.003)
    return (gain * y / np.abs(y).max()).astype(np.float32)


def take_and_score(folder: Path) -> tuple[Path, Path, list[float]]:
    """For the host tests: a take of EVENTS (1 s of silence first) as take.wav, its score as score.mid in
    `folder`, and each distinct score onset's true time in the take."""
    score = score_of(EVENTS)
    io.save(score, folder / "score.mid")
    sf.write(str(folder / "take.wav"), render(score), SR)
    return folder / "take.wav", folder / "score.mid", performed_times(np.array(sorted({e[0] for e in EVENTS})), 1.0).tolist()


@pytest.fixture(scope="module")
def score() -> Piece:
    return score_of(EVENTS)


@pytest.fixture(scope="module")
def wav(tmp_path_factory, score) -> str:
    path = tmp_path_factory.mktemp("align") / "take.wav"
    sf.write(str(path), render(score), SR)
    return str(path)


def test_align_times_every_note_of_a_rubato_performance(score, wav):
    al = align_audio(score, load_audio(wav))
    truth = performed_times(al.notes["onset_beat"], 1.0)
    err = np.abs(al.onset_sec - truth)
    assert (err <= 0.05).mean() >= 0.95, err
    assert al.confidence > 0.6 and not al.warnings
    # time map: one row per distinct onset, times increasing (the repeated chord keeps its own strike)
    assert al.time_map.shape == (len({e[0] for e in EVENTS}), 2)
    assert np.all(np.diff(al.time_map[:, 0]) > 0)
    row = al.time_map[al.time_map[:, 1] == 9.0][0]
    assert abs(row[0] - performed_times(np.array(9.0), 1.0)) < 0.05


def test_output_piece_follows_the_recording_with_a_lead_in_bar(score, wav, tmp_path):
    result = registry.run("align", score, recording=wav)
    lead = result.data["lead_in_beats"]
    assert lead == 4.0  # one second of silence before the first note: one 4/4 bar of rest at the start
    out = result.piece
    for note in result.data["notes"]:
        i = int(np.flatnonzero(out.notes["id"] == note["id"])[0])
        assert out.notes["onset_beat"][i] == pytest.approx(note["score_beat"] + lead)
        assert out.notes["onset_sec"][i] == pytest.approx(note["onset_sec"], abs=1e-6)
    back = io.load(io.save_result(result, tmp_path / "aligned.mid"))
    t = np.sort(back.notes["onset_sec"])
    assert np.abs(t - np.sort(out.notes["onset_sec"])).max() < 0.01  # the MIDI's tempo map keeps the times


def test_cli_align_json(score, wav, tmp_path, capsys):
    mid = tmp_path / "score.mid"
    io.save(score, mid)
    assert main(["run", "align", wav, str(mid), "--json", "-o", str(tmp_path / "out.mid")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["task"] == "align" and doc["result"]["recording"] == wav
    assert len(doc["result"]["time_map"]) == len({e[0] for e in EVENTS})
    assert (tmp_path / "out.mid").stat().st_size > 0
    assert main(["run", "align", str(mid)]) == 2
    assert "give the recording, then the score" in capsys.readouterr().err


def test_unrelated_recording_gets_low_confidence(score, tmp_path):
    path = tmp_path / "other.wav"
    sf.write(str(path), render(score_of(OTHER)), SR)
    al = align_audio(score, load_audio(str(path)))
    assert al.confidence < 0.3 and any("low confidence" in w for w in al.warnings)


def test_recording_far_longer_than_the_score_is_flagged(score):
    long_take = np.concatenate([render(score)] * 5)
    al = align_audio(score, Audio(long_take, SR, "long.wav"))
    assert any("times the score" in w for w in al.warnings)
    assert al.confidence < 0.5


@pytest.mark.parametrize("content, problem", [
    (b"", "the file is empty"),
    (b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk", "not a readable audio file"),
])
def test_unreadable_audio_is_refused(tmp_path, content, problem):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(InputError, match=problem) as exc:
        load_audio(path)
    assert str(exc.value).startswith(str(path))


def test_silent_missing_and_unsupported_audio_are_refused(tmp_path):
    silent = tmp_path / "silent.flac"
    sf.write(str(silent), np.zeros((SR, 2), dtype=np.float32), SR, format="FLAC")
    with pytest.raises(InputError, match="silent"):
        load_audio(silent)
    with pytest.raises(InputError, match="no such file"):
        load_audio(tmp_path / "absent.wav")
    text = tmp_path / "notes.txt"
    text.write_text("not audio")
    with pytest.raises(InputError, match="unsupported audio file type"):
        load_audio(text)
    with pytest.raises(InputError, match="is a directory"):
        load_audio(tmp_path)


def test_stereo_and_other_rates_are_mixed_and_resampled(tmp_path, score):
    y = render(score)
    stereo = np.stack([y, 0.5 * y], axis=1)
    path = tmp_path / "take.ogg"
    sf.write(str(path), stereo, 44100, format="OGG")
    a = load_audio(path)
    assert a.sr == 22050 and a.samples.ndim == 1
    assert a.duration_sec == pytest.approx(len(y) / 44100, abs=0.01)


def test_a_score_without_notes_or_a_missing_recording_is_a_clear_error(score, wav):
    with pytest.raises(InputError, match="no pitched notes"):
        registry.run("align", Piece(), recording=wav)
    with pytest.raises(InputError, match="needs a recording"):
        registry.run("align", score)
    with pytest.raises(ParameterError, match="takes no recording"):
        registry.run("key", score, recording=wav)


def test_align_is_a_recording_task_served_by_the_api_and_cli(capsys):
    assert "align" in registry.RECORDING_TASKS and "align" not in registry.TASKS
    assert registry.get("align").takes_recording
    assert main(["tasks"]) == 0
    assert "align" in capsys.readouterr().out


def test_locate_finds_an_audio_clip_and_a_midi_clip(score, tmp_path, capsys):
    from symbolic_ai.tasks.locate import locate_in

    y = render(score, lead=0.0, tail=0.0)
    a, b = performed_times(np.array([6.0, 11.0]), 0.0)
    clip = tmp_path / "clip.wav"
    sf.write(str(clip), y[int(a * SR) - 200:int(b * SR)], SR)
    result = registry.run("locate", score, recording=str(clip), k=3)
    best = result.data["places"][0]
    assert abs(best["start_beat"] - 6.0) <= 1.0 and best["score"] > 0.5
    assert len(result.data["places"]) <= 3
    assert [a.value["rank"] for a in result.piece.annotations_of("locate")][:1] == [1]
    mid = tmp_path / "score.mid"
    io.save(score, mid)
    part = score.notes[(score.notes["onset_beat"] >= 2) & (score.notes["onset_beat"] < 8)]
    midi_clip = tmp_path / "clip.mid"
    io.save(score.replace(notes=part), midi_clip)
    assert main(["run", "locate", str(midi_clip), str(mid), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert abs(doc["result"]["places"][0]["start_beat"] - 2.0) <= 1.0
    other = tmp_path / "other.mid"
    io.save(score_of(OTHER), other)
    ranked = locate_in(str(clip), [other, mid], k=2)
    assert ranked[0]["path"] == str(mid)


def test_cli_locate_over_a_folder_names_the_file_and_skips_unreadable_ones(score, tmp_path, capsys):
    y = render(score, lead=0.0, tail=0.0)
    a, b = performed_times(np.array([6.0, 11.0]), 0.0)
    clip = tmp_path / "clip.wav"
    sf.write(str(clip), y[int(a * SR) - 200:int(b * SR)], SR)
    folder = tmp_path / "scores"
    folder.mkdir()
    io.save(score, folder / "this.mid")
    io.save(score_of(OTHER), folder / "other.mid")
    (folder / "broken.mid").write_bytes(b"MThd not a midi file")
    (folder / "notes.txt").write_text("not music: not searched")
    assert main(["run", "locate", str(clip), str(folder), "--json", "--k", "2"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["task"] == "locate" and doc["result"]["files"] == 3 and len(doc["result"]["places"]) == 2
    best = doc["result"]["places"][0]
    assert best["path"] == str(folder / "this.mid") and abs(best["start_beat"] - 6.0) <= 1.0
    assert "broken.mid: skipped" in captured.err and "notes.txt" not in captured.err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["run", "locate", str(clip), str(empty)]) == 2
    assert "no music files to search" in capsys.readouterr().err


def test_locate_refuses_a_silent_or_overlong_clip(score, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(SR, dtype=np.float32), SR)
    with pytest.raises(InputError, match="silent"):
        registry.run("locate", score, recording=str(silent))
    with pytest.raises(InputError, match="at most 60 s"):
        registry.run("locate", score, recording=Audio(np.ones(SR * 61, np.float32) * 0.1, SR, "long"))

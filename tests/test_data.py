"""Dataset loaders: split counts as documented in each SOURCE.md, one loaded example per dataset,
label decoders, robustness to bad files, and `symbolic-ai data check`."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from symbolic_ai.cli import main
from symbolic_ai.data import DATASETS, Example, check, iter_examples
from symbolic_ai.data.base import load_path
from symbolic_ai.data.classical import bps_key
from symbolic_ai.data.leadsheet import abc_key
from symbolic_ai.data.pop909 import decode_chord, key_label
from symbolic_ai.errors import InputError

# (train, valid, test) examples with files present, from each SOURCE.md; reserved tests are 0.
EXPECTED = {
    "emopia": (784, 206, 88),
    "vgmidi": (162, 22, 20),
    "pop909": (737, 86, 86),
    "pop909_cl": (735, 86, 86),  # 737/86/86 less songs 367 and 658 (both train)
    "nottingham": (836, 97, 0),
    "chord_melody_dataset": (387, 46, 40),
    "when_in_rome": (724, 104, 0),
    "bps_fh": (19, 6, 7),
    "asap": (139, 21, 48),
    "batik_mozart": (26, 4, 6),
}
# What one loaded example must carry: annotation kinds and label keys.
EXPECTED_ANNOTATIONS = {
    "pop909": {"chord", "key"}, "pop909_cl": {"chord", "key"}, "nottingham": {"chord", "key"},
    "chord_melody_dataset": {"chord"}, "when_in_rome": {"roman", "key"},
    "bps_fh": {"roman", "key", "degree", "quality", "inversion"},
}
EXPECTED_LABELS = {"emopia": {"quadrant", "valence", "arousal"}, "vgmidi": {"quadrant", "valence", "arousal"},
                   "nottingham": {"key"}, "asap": {"match", "performance_midi", "score_midi"},
                   "batik_mozart": {"match", "performance_midi"}}


def test_every_dataset_is_described() -> None:
    assert set(DATASETS) == set(EXPECTED)
    assert all(d.licence for d in DATASETS.values())


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_split_counts(data_root: Path, name: str) -> None:
    counts = {s: sum(1 for _ in iter_examples(name, s, root=data_root)) for s in ("train", "valid", "test")}
    assert tuple(counts.values()) == EXPECTED[name]
    ids = [ex.id for ex in iter_examples(name, root=data_root)]
    assert len(ids) == len(set(ids)) == sum(EXPECTED[name])


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_one_example_loads(data_root: Path, name: str) -> None:
    ex = next(iter_examples(name, "valid", root=data_root))
    assert isinstance(ex, Example) and ex.split == "valid" and ex.work_id and ex.dataset == name
    piece = ex.load()
    assert len(piece.notes) > 0
    assert piece.metadata["dataset"] == name and piece.metadata["split"] == "valid"
    kinds = {a.kind for a in piece.annotations}
    assert EXPECTED_ANNOTATIONS.get(name, set()) <= kinds
    assert EXPECTED_LABELS.get(name, set()) <= set(ex.labels)
    end = piece.duration_beat + 1e-6
    assert all(0 <= a.start_beat <= a.end_beat for a in piece.annotations)
    if name in EXPECTED_ANNOTATIONS and name != "pop909":  # pop909 labels come from audio-aligned seconds
        assert all(a.start_beat <= end for a in piece.annotations)


@pytest.mark.data
def test_work_ids_never_cross_splits(data_root: Path) -> None:
    for name in ("emopia", "vgmidi", "pop909", "nottingham", "when_in_rome", "asap", "batik_mozart"):
        split_of: dict[str, str] = {}
        for ex in iter_examples(name, root=data_root):
            assert split_of.setdefault(ex.work_id, ex.split) == ex.split, (name, ex.work_id)


@pytest.mark.data
def test_pop909_cl_piano_without_chord_track(data_root: Path) -> None:
    ex = next(e for e in iter_examples("pop909_cl", "train", root=data_root) if e.id == "001")
    piece = ex.load()
    assert len(piece.tracks) == 1
    chords = piece.annotations_of("chord")
    # SOURCE.md's decoded example for song 001
    assert [(a.start_beat, a.value) for a in chords[:3]] == [(4.0, "B:maj"), (6.0, "C#:maj"), (8.0, "Bb:min")]
    assert piece.annotations_of("key")[0].value == "Gb major"


@pytest.mark.data
def test_bps_fh_pickup_and_keys(data_root: Path) -> None:
    piece = next(iter_examples("bps_fh", "test", root=data_root)).load()  # sonata 1, F minor, pickup of 1
    assert piece.pickup_beats == 1.0 and float(piece.notes["onset_beat"].min()) == 0.0
    assert piece.annotations_of("key")[0].value == "F minor"
    assert piece.annotations_of("roman")[0].value == "i"
    assert piece.time_signatures[0].bar_beats == 4.0  # from the downbeats (4 crotchets apart)


@pytest.mark.data
def test_when_in_rome_chorale_with_alternative_corpus_scores(data_root: Path) -> None:
    """splits.csv names 'bwv248.9-s.mxl;bwv248.9-i.mxl' for chorale 046: the first installed one is used."""
    ex = next(e for e in iter_examples("when_in_rome", "valid", root=data_root) if e.id.endswith("Chorales/046"))
    piece = ex.load()
    assert "bwv248.9" in piece.metadata["source"]
    onsets = set(np.round(piece.notes["onset_beat"], 3))
    romans = piece.annotations_of("roman")
    assert romans and all(round(a.start_beat, 3) in onsets for a in romans)  # aligned to the score


def test_label_decoders() -> None:
    assert decode_chord([59, 63, 66]) == "B:maj"
    assert decode_chord([52, 60, 67]) == "C:maj/3"
    assert decode_chord([43, 47, 50, 53]) == "G:7"
    assert decode_chord([57, 60, 64, 67]) == "A:min7"
    assert decode_chord([]) == "N"
    assert key_label("Eb:min") == "Eb minor"
    assert abc_key("Am") == "A minor" and abc_key("G") == "G major" and abc_key("Ador") == "A dorian"
    assert bps_key("c+") == "C# minor" and bps_key("B-") == "Bb major"
    for bad, fn in (("H:maj", key_label), ("X", abc_key), ("q", bps_key)):
        with pytest.raises(InputError):
            fn(bad)


def test_corrupt_file_raises_input_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    ex = Example(id="x", dataset="emopia", split="train", path=bad, work_id="w", labels={}, loader=load_path)
    with pytest.raises(InputError, match="broken.mid"):
        ex.load()
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        Example("y", "emopia", "train", empty, "w", {}, load_path).load()


def test_iteration_does_not_parse_files(tmp_path: Path, data_root: Path) -> None:
    """A copy of BPS-FH's index with garbage music files still iterates; loading names the file."""
    src = data_root / "bps_fh"
    dst = tmp_path / "bps_fh"
    dst.mkdir()
    shutil.copy(src / "splits.csv", dst / "splits.csv")
    for n in range(1, 33):
        (dst / "BPS_FH_Dataset" / str(n)).mkdir(parents=True)
        (dst / "BPS_FH_Dataset" / str(n) / "notes.csv").write_text("not,a,number\n")
    examples = list(iter_examples("bps_fh", root=tmp_path))
    assert len(examples) == 32
    with pytest.raises(InputError, match="notes.csv"):
        examples[0].load()


SCORE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="3.1"><part-list><score-part id="P1"><part-name>A</part-name></score-part></part-list>
<part id="P1"><measure number="1"><attributes><divisions>1</divisions><key><fifths>-3</fifths></key>
<time><beats>4</beats><beat-type>4</beat-type></time></attributes>
<harmony><function>Eb.I</function><kind>major</kind></harmony>
<note><pitch><step>E</step><alter>-1</alter><octave>4</octave></pitch><duration>2</duration><type>half</type></note>
<note><pitch><step>B</step><alter>-1</alter><octave>3</octave></pitch><duration>2</duration><type>half</type></note>
</measure></part></score-partwise>"""


def test_when_in_rome_loader_on_a_tiny_folder(tmp_path: Path) -> None:
    """RomanText aligned to a local score.mxl whose `<harmony>` music21 rejects (as in some quartets)."""
    folder = tmp_path / "when_in_rome" / "Corpus" / "Quartets" / "X" / "1"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "score.mxl", "w") as z:
        z.writestr("META-INF/container.xml", '<?xml version="1.0"?><container><rootfiles>'
                   '<rootfile full-path="score.xml"/></rootfiles></container>')
        z.writestr("score.xml", SCORE_XML)
    (folder / "analysis.txt").write_text("Time Signature: 4/4\n\nm1 Eb: I b3 V\n")
    (tmp_path / "when_in_rome" / "splits.csv").write_text(
        "folder,genre,has_local_score,music21_corpus_score,group,split\nQuartets/X/1,Quartets,1,,Quartets/X/1,valid\n")
    ex = next(iter_examples("when_in_rome", "valid", root=tmp_path))
    piece = ex.load()
    assert [(a.start_beat, a.end_beat, a.value) for a in piece.annotations_of("roman")] == [(0.0, 2.0, "I"),
                                                                                          (2.0, 4.0, "V")]
    assert [a.value for a in piece.annotations_of("key")] == ["Eb major"]
    assert list(piece.notes["pitch"]) == [63, 58]
    (folder / "analysis.txt").write_text("m1 Eb: Q9 b9 nonsense\n")
    with pytest.raises(InputError, match="analysis.txt"):
        ex.load()


def test_unknown_dataset_and_split(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope"):
        list(iter_examples("nope", root=tmp_path))
    with pytest.raises(InputError, match="training"):
        list(iter_examples("emopia", "training", root=tmp_path))
    with pytest.raises(InputError, match="not found"):
        list(iter_examples("emopia", root=tmp_path))


@pytest.mark.data
def test_cli_data_check(data_root: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "check", "--data-root", str(data_root)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["root_exists"] and report["root"] == str(data_root)
    for name, (train, valid, test) in EXPECTED.items():
        entry = report["datasets"][name]
        assert entry["present"] and entry["examples"] == {"train": train, "valid": valid, "test": test}
    assert report["datasets"]["nottingham"]["listed"]["test"] == 101  # reserved: listed, not present


@pytest.mark.data
def test_symbolic_ai_data_check_command(data_root: Path) -> None:
    """The installed console script, as a user runs it."""
    exe = Path(sys.executable).parent / "symbolic-ai"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "symbolic_ai.cli"]
    done = subprocess.run(cmd + ["data", "check", "--data-root", str(data_root)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["datasets"]["bps_fh"]["examples"] == {"train": 19, "valid": 6, "test": 7}
    missing = subprocess.run(cmd + ["data", "check", "--data-root", str(data_root / "nope")], capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_cli_data_check_missing_root(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "no_such_dir"
    assert main(["data", "check", "--data-root", str(missing)]) == 2
    captured = capsys.readouterr()
    assert str(missing) in captured.err and "SYMBOLIC_AI_DATA" in captured.err
    assert json.loads(captured.out)["root_exists"] is False
    assert check(missing)["datasets"] == {}

"""Bad input: each case gives one line naming the input and the problem, through the API and the CLI.

CLI: exit code 2, no traceback unless --debug, and never an output file from a failed run.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import symbolic_ai as sai
from conftest import DATA, EXAMPLES
from symbolic_ai import cli
from symbolic_ai.errors import InputError, ParameterError, UnknownTaskError
from symbolic_ai.registry import get

# the key task's own limits, from the registry (they may change with the task)
WINDOW = get("key").param("window_beats").range_text           # e.g. "[2, 512]"; 1 must be below it
PROFILES = get("key").param("profile").choices

# (file in tests/data, the words the message must contain)
BAD_FILES = {
    "empty": ("empty.mid", "the file is empty"),
    "random bytes": ("random_bytes.mid", "not a MIDI file"),
    "truncated midi": ("truncated.mid", "not a readable MIDI file, it may be truncated or corrupt"),
    "broken musicxml": ("broken.musicxml", "could not be read as musicxml"),
    "bad json": ("not_json.json", "not valid JSON"),
}
NO_KEY = {  # files that load but hold nothing to find a key in
    "musicxml without notes": "no_notes.musicxml",
    "drums only": "drums_only.mid",
}


def one_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def run_cli(*argv: str, capsys) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- API -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_api_bad_file(case):
    name, words = BAD_FILES[case]
    with pytest.raises(InputError) as exc:
        sai.load(DATA / name)
    msg = one_line(str(exc.value))
    assert msg.startswith(str(DATA / name)) and words in msg


@pytest.mark.parametrize("case", sorted(NO_KEY))
def test_api_nothing_pitched_for_the_key_task(case):
    piece = sai.load(DATA / NO_KEY[case])
    with pytest.raises(InputError) as exc:
        sai.run("key", piece)
    msg = one_line(str(exc.value))
    assert NO_KEY[case] in msg and "no pitched notes" in msg


def test_api_missing_path_directory_and_suffix(tmp_path):
    with pytest.raises(InputError, match=r"nothing\.mid: no such file"):
        sai.load(tmp_path / "nothing.mid")
    with pytest.raises(InputError, match="is a directory"):
        sai.load(tmp_path)
    (tmp_path / "notes.txt").write_text("C D E")
    with pytest.raises(InputError, match=r"notes\.txt: unsupported file type '\.txt'"):
        sai.load(tmp_path / "notes.txt")


def test_api_huge_file_is_refused_before_reading(tmp_path, monkeypatch):
    huge = tmp_path / "huge.mid"
    subprocess.run(["truncate", "-s", "200M", str(huge)], check=True)   # sparse: no disk used
    assert huge.stat().st_size == 200 * 1024 * 1024

    def no_reading(*_a, **_k):
        raise AssertionError("the file was read before its size was checked")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    monkeypatch.setattr(Path, "open", no_reading)
    with pytest.raises(InputError) as exc:
        sai.load(huge)
    msg = one_line(str(exc.value))
    assert "huge.mid" in msg and "200.0 MiB, over the 64 MiB limit" in msg


def test_api_unknown_task_and_bad_parameters():
    piece = sai.load(EXAMPLES / "folk_melody.mid")
    with pytest.raises(UnknownTaskError, match="unknown task 'nosuch'; tasks are .*key"):
        sai.run("nosuch", piece)
    with pytest.raises(ParameterError, match=rf"key: parameter 'window_beats' must be in {re.escape(WINDOW)}, got 1"):
        sai.run("key", piece, window_beats=1)
    with pytest.raises(ParameterError, match="'window_beats' must be a number, got 'long'"):
        sai.run("key", piece, window_beats="long")
    with pytest.raises(ParameterError, match=f"'profile' must be one of {', '.join(PROFILES)}; got 'x'"):
        sai.run("key", piece, profile="x")
    with pytest.raises(ParameterError, match="unknown parameter 'colour'"):
        sai.run("key", piece, colour=1)
    with pytest.raises(ParameterError, match="expected a Piece, got str"):
        sai.run("key", "folk_melody.mid")


def test_api_unsupported_output_suffix(tmp_path):
    piece = sai.load(EXAMPLES / "folk_melody.mid")
    with pytest.raises(InputError, match=r"out\.wav: cannot write '\.wav'"):
        sai.save(piece, tmp_path / "out.wav")
    assert list(tmp_path.iterdir()) == []


# -- CLI -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(BAD_FILES) + sorted(NO_KEY))
def test_cli_bad_file_exit_2_one_line_no_output(case, tmp_path, capsys):
    name = BAD_FILES[case][0] if case in BAD_FILES else NO_KEY[case]
    words = BAD_FILES[case][1] if case in BAD_FILES else "no pitched notes"
    out = tmp_path / "out.mid"
    code, stdout, err = run_cli("run", "key", str(DATA / name), "-o", str(out), capsys=capsys)
    assert code == 2 and stdout == ""
    line = one_line(err)
    assert line.startswith("symbolic-ai: error: ") and name in line and words in line
    assert list(tmp_path.iterdir()) == []


def test_cli_huge_missing_and_directory(tmp_path, capsys):
    huge = tmp_path / "huge.mid"
    subprocess.run(["truncate", "-s", "200M", str(huge)], check=True)
    for path, words in [(huge, "over the 64 MiB limit"), (tmp_path / "gone.mid", "no such file"),
                        (tmp_path, "is a directory")]:
        code, _, err = run_cli("run", "key", str(path), capsys=capsys)
        line = one_line(err)
        assert code == 2 and str(path) in line and words in line


@pytest.mark.parametrize("argv, words", [
    (["run", "nosuch", "x.mid"], "invalid choice: 'nosuch'"),
    (["run", "key", "IN", "--window-beats", "1"], f"'window_beats' must be in {WINDOW}, got 1"),
    (["run", "key", "IN", "--window-beats", "abc"], "'window_beats' must be a number, got 'abc'"),
    (["run", "key", "IN", "--profile", "major"], f"'profile' must be one of {', '.join(PROFILES)}; got 'major'"),
    (["run", "key", "IN", "--colour", "red"], "unrecognized arguments: --colour red"),
    (["run", "key", "IN", "-o", "OUT/x.wav"], "x.wav: cannot write '.wav'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_cli_usage_errors(argv, words, tmp_path, capsys):
    argv = [a.replace("IN", str(EXAMPLES / "folk_melody.mid")).replace("OUT", str(tmp_path)) for a in argv]
    code, out, err = run_cli(*argv, capsys=capsys)
    assert code == 2 and out == ""
    assert words in one_line(err)
    assert list(tmp_path.iterdir()) == []


def test_cli_one_bad_input_among_good_ones(tmp_path, capsys):
    code, out, err = run_cli("run", "key", str(EXAMPLES / "folk_melody.mid"), str(DATA / "empty.mid"),
                             str(EXAMPLES / "chorale_bwv66_6.musicxml"), "-o", str(tmp_path), "--format", "json",
                             capsys=capsys)
    assert code == 2 and "empty.mid: the file is empty" in one_line(err)
    assert len(out.splitlines()) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chorale_bwv66_6.key.json", "folk_melody.key.json"]


def test_cli_several_inputs_into_a_file(tmp_path, capsys):
    target = tmp_path / "one.json"
    target.write_text("keep me")
    code, out, err = run_cli("run", "key", str(EXAMPLES / "folk_melody.mid"), str(EXAMPLES / "folk_melody.abc"),
                             "-o", str(target), capsys=capsys)
    assert code == 2 and out == ""
    assert all("-o must name a directory" in line for line in err.splitlines()) and "Traceback" not in err
    assert target.read_text() == "keep me"


def test_cli_real_process_exit_code_and_debug_traceback(tmp_path):
    bad = tmp_path / "bad.mid"
    shutil.copy(DATA / "truncated.mid", bad)
    cmd = [sys.executable, "-m", "symbolic_ai.cli", "run", "key", str(bad), "-o", str(tmp_path / "o.mid")]
    plain = subprocess.run(cmd, capture_output=True, text=True)
    assert plain.returncode == 2 and plain.stdout == ""
    assert "bad.mid" in one_line(plain.stderr) and "truncated or corrupt" in plain.stderr
    for argv in (cmd[:3] + ["--debug"] + cmd[3:], cmd + ["--debug"]):   # before or after the command
        debug = subprocess.run(argv, capture_output=True, text=True)
        assert debug.returncode == 2 and "Traceback" in debug.stderr and "truncated or corrupt" in debug.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mid"]

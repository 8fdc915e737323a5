"""The command line: tasks, run (one or several inputs, -o file or directory, --json), info, and the
golden `key` outputs for the examples.

Golden files: tests/golden/key.<example>.json. After an intended change to the key task, rewrite
them with `SYMBOLIC_AI_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_cli.py` and review
the diff before committing.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

import symbolic_ai as sai
from conftest import EXAMPLES, GOLDEN
from symbolic_ai import cli

UPDATE = os.environ.get("SYMBOLIC_AI_UPDATE_GOLDEN") == "1"
EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".mid", ".musicxml", ".abc"))


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_close(got, want, where="result"):
    """Strings, ints and structure exactly; floats to 1e-6 (relative) or 1e-9 (absolute)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for k in want:
            assert_close(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {len(got)} items, golden has {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(got, bool):
        assert isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9), \
            f"{where}: {got!r} != golden {want!r}"
    else:
        assert got == want and type(got) is type(want), f"{where}: {got!r} != golden {want!r}"


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_key_golden(name, capsys):
    code, out, err = run_cli(capsys, "run", "key", str(EXAMPLES / name), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["input"] == str(EXAMPLES / name) and doc["task"] == "key"
    got = {"params": doc["params"], "result": doc["result"]}
    path = GOLDEN / f"key.{name}.json"
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"{path.name} is missing: run with SYMBOLIC_AI_UPDATE_GOLDEN=1 to write it")
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert_close(got, json.loads(path.read_text()))


def test_assert_close_catches_differences():
    assert_close({"a": [1.0, "x"]}, {"a": [1.0 + 1e-9, "x"]})
    for got, want in [({"a": 1.1}, {"a": 1.0}), ({"a": "y"}, {"a": "x"}), ({"a": [1]}, {"a": [1, 2]}),
                      ({"b": 1}, {"a": 1}), ({"a": 1}, {"a": True})]:
        with pytest.raises(AssertionError):
            assert_close(got, want)


def test_chorale_key_through_the_installed_script():
    """The issue's check: `symbolic-ai run key <a Bach chorale> --json` prints its key."""
    exe = os.path.join(os.path.dirname(sys.executable), "symbolic-ai")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "symbolic_ai.cli"]
    out = subprocess.run(cmd + ["run", "key", str(EXAMPLES / "chorale_bwv66_6.musicxml"), "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["result"]["key"] == "F# minor"


def test_tasks_table(capsys):
    code, out, _ = run_cli(capsys, "tasks")
    header, *rows = out.splitlines()
    assert code == 0 and header.split()[:3] == ["task", "model", "summary"]
    assert any(r.startswith("key ") and "window_beats=16.0" in r for r in rows)


def test_info_is_json(capsys):
    code, out, _ = run_cli(capsys, "info")
    info = json.loads(out)
    assert code == 0 and info["version"] == sai.__version__ and "providers" in json.dumps(info)


def test_version(capsys):
    assert run_cli(capsys, "--version")[:2] == (0, f"symbolic-ai {sai.__version__}\n")


def test_several_inputs_json_one_document_per_line(capsys):
    files = [str(EXAMPLES / n) for n in ("folk_melody.abc", "folk_melody.mid", "chorale_bwv66_6.musicxml")]
    code, out, _ = run_cli(capsys, "run", "key", *files, "--json", "--switch-cost", "4")
    docs = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [d["input"] for d in docs] == files
    assert all(d["params"]["switch_cost"] == 4.0 for d in docs)


def test_plain_output_is_a_summary_line(capsys):
    code, out, _ = run_cli(capsys, "run", "key", str(EXAMPLES / "chorale_bwv66_6.musicxml"))
    assert code == 0 and "key=F# minor" in out and len(out.splitlines()) == 1


@pytest.mark.parametrize("suffix", [".mid", ".musicxml", ".json"])
def test_output_file_of_each_type(suffix, tmp_path, capsys):
    out = tmp_path / f"chorale.keys{suffix}"
    code, stdout, _ = run_cli(capsys, "run", "key", str(EXAMPLES / "chorale_bwv66_6.musicxml"), "-o", str(out))
    assert code == 0 and f"-> {out}" in stdout
    back = sai.load(out)
    assert len(back) == 163
    if suffix != ".musicxml":                       # MusicXML carries chord symbols, not key spans
        assert back.annotations_of("key")[0].value == "F# minor"
    if suffix == ".json":
        assert json.loads(out.read_text())["result"]["key"] == "F# minor"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]   # no temp files left


def test_output_directory_names_and_stem_clashes(tmp_path, capsys):
    files = [str(EXAMPLES / n) for n in ("folk_melody.abc", "folk_melody.mid", "maple_leaf_rag.mid")]
    code, _, _ = run_cli(capsys, "run", "key", *files, "-o", str(tmp_path / "out"), "--format", "musicxml")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "folk_melody_abc.key.musicxml", "folk_melody_mid.key.musicxml", "maple_leaf_rag.key.musicxml"]


def test_demo_script_covers_every_task():
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo", EXAMPLES / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    for kind in ("piece", "melody", "score", "performance"):
        assert demo.inputs_for(kind) and all(p.exists() for p in demo.inputs_for(kind))


def test_readme_python_quick_start_runs(tmp_path, monkeypatch, capsys):
    """The README's Python block, run as written from a directory holding examples/."""
    import re

    readme = (EXAMPLES.parent / "README.md").read_text()
    block = re.search(r"## Python quick start\s+```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "examples").symlink_to(EXAMPLES)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "F# minor" in out and (tmp_path / "chorale_with_keys.mid").exists()


def test_model_override_picks_a_variant_and_refuses_a_wrong_one(capsys):
    folk = str(EXAMPLES / "folk_melody.mid")
    code, out, _ = run_cli(capsys, "run", "chords", folk, "--model", "chords-v1", "--json")
    assert code == 0 and json.loads(out)["task"] == "chords"
    code, _, err = run_cli(capsys, "run", "chords", folk, "--model", "harmonize-v1")
    assert code != 0 and "model for task 'harmonize'" in err
    code, _, err = run_cli(capsys, "run", "chords", folk, "--model", "no-such-model-v9")
    assert code != 0 and "no-such-model-v9" in err
    with pytest.raises(sai.errors.ParameterError, match="uses no model"):
        sai.run("key", sai.load(folk), model="chords-v1")


def test_a_slow_load_says_so_on_stderr_and_a_fast_one_says_nothing(capsys):
    import time

    with cli._slow_notice("reading big.musicxml", "large files take a while", after_s=0.05):
        time.sleep(0.3)
    with cli._slow_notice("reading small.mid", "-", after_s=0.5):
        pass
    time.sleep(0.6)  # the second notice's timer would have fired by now
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "still reading big.musicxml (large files take a while)" in err

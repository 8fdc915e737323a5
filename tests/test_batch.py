"""Batch runs (`symbolic_ai.batch`, `symbolic-ai batch`): folders, lists and manifests as input, a
bad file recorded and never fatal, the manifest (JSON lines, Parquet), resume, and the same
assertions on the Ray engine over a local two-CPU instance."""
from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

import symbolic_ai as sai
from conftest import EXAMPLES
from symbolic_ai import batching, cli
from symbolic_ai.errors import InputError, MissingDependencyError, ParameterError, SymbolicAIError


@pytest.fixture
def corpus(tmp_path):
    """A folder: two good files (one in a subfolder), a corrupt MIDI, a text file and a hidden file."""
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    shutil.copy(EXAMPLES / "folk_melody.mid", root / "folk.mid")
    shutil.copy(EXAMPLES / "folk_melody.abc", root / "sub" / "folk.abc")
    (root / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06 not really")
    (root / "README.txt").write_text("not music\n")
    (root / ".hidden.mid").write_bytes(b"")
    return root


def check_run(records, out, corpus, engine):
    """The assertions both engines must pass."""
    by_name = {r.input.rsplit("/", 1)[-1]: r for r in records}
    assert sorted(by_name) == ["broken.mid", "folk.abc", "folk.mid"]
    bad = by_name["broken.mid"]
    assert bad.status == "error" and bad.output == "" and bad.error.startswith(str(corpus / "broken.mid"))
    for name in ("folk.mid", "folk.abc"):
        r = by_name[name]
        assert r.ok and r.data["key"] == "G minor" and r.seconds > 0, (engine, r)
        doc = json.loads((out / r.output.rsplit("/", 1)[-1]).read_text())
        assert doc["task"] == "key" and doc["result"]["key"] == "G minor" and doc["piece"]["notes"]
    assert sorted(p.name for p in out.iterdir()) == ["folk_abc.key.json", "folk_mid.key.json", "manifest.jsonl",
                                                    "manifest.parquet"]
    rows = batching.read_manifest(out / "manifest.parquet")
    assert sorted((r["input"], r["status"], r["key"]) for r in rows) == sorted(
        (str(corpus / n), s, k) for n, s, k in [("broken.mid", "error", None), ("folk.mid", "ok", "G minor"),
                                                ("sub/folk.abc", "ok", "G minor")])
    assert all(set(batching.BASE_COLUMNS) <= set(r) for r in rows)
    assert [r["input"] for r in batching.read_manifest(out / "manifest.jsonl")] == [r.input for r in records]


def test_process_engine_two_processes(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    records = list(sai.batch("key", [corpus], out_dir=out, jobs=2))
    check_run(records, out, corpus, "process")
    assert "skipped 1 file(s) of other types (.txt ×1)" in capsys.readouterr().err


def test_workers_start_with_one_blas_thread_and_the_parent_is_left_as_it_was(monkeypatch):
    """Each worker is one core: numpy's BLAS threads in it would spin against the other workers'."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's choice stands
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        with batching.one_thread_env():
            seen = pool.submit(os.getenv, "OPENBLAS_NUM_THREADS"), pool.submit(os.getenv, "OMP_NUM_THREADS")
        assert [f.result() for f in seen] == ["1", "3"]
    finally:
        pool.shutdown()
    assert "OPENBLAS_NUM_THREADS" not in os.environ and os.environ["OMP_NUM_THREADS"] == "3"


def test_resume_skips_what_is_done(corpus, tmp_path):
    out = tmp_path / "out"
    first = list(sai.batch("key", corpus, out_dir=out))
    assert sum(r.ok for r in first) == 2
    (out / "folk_abc.key.json").unlink()  # an output lost since: done again
    again = list(sai.batch("key", corpus, out_dir=out, resume=True))
    assert sorted(r.input.rsplit("/", 1)[-1] for r in again) == ["broken.mid", "folk.abc"]
    rows = {r["input"]: r for r in batching.read_manifest(out / "manifest.parquet")}
    assert len(rows) == 3 and rows[str(corpus / "sub" / "folk.abc")]["status"] == "ok"
    assert (out / "folk_abc.key.json").exists()


def test_list_file_and_manifest_as_inputs(corpus, tmp_path):
    listing = corpus / "list.txt"
    listing.write_text("# my selection\nfolk.mid\nsub/folk.abc\ngone.mid\n")
    records = list(sai.batch("key", [listing], out_dir=tmp_path / "a", format="none"))
    assert {r.input.rsplit("/", 1)[-1]: r.status for r in records} == {"folk.mid": "ok", "folk.abc": "ok", "gone.mid": "error"}
    assert next(r for r in records if not r.ok).error == f"{corpus / 'gone.mid'}: no such file"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["manifest.jsonl", "manifest.parquet"]
    again = list(sai.batch("emotion", [tmp_path / "a" / "manifest.parquet"], out_dir=tmp_path / "b", format="none"))
    assert sorted(r.status for r in again) == ["error", "ok", "ok"]
    assert {r["quadrant"] for r in batching.read_manifest(tmp_path / "b" / "manifest.parquet") if r["status"] == "ok"} \
        <= {"Q1", "Q2", "Q3", "Q4"}


def test_tune_applies_to_abc_files_only(corpus, tmp_path):
    abc = corpus / "sub" / "two.abc"
    abc.write_text("L:1/4\n\nX:1\nT:One\nK:C\nCDEF GABc|]\n\nX:2\nT:Two\nK:D\nDEFG ABcd|]\n")
    records = {r.input.rsplit("/", 1)[-1]: r for r in sai.batch("key", corpus, tune=2)}
    assert records["two.abc"].data["key"] == "D major" and records["folk.mid"].ok
    assert not records["folk.abc"].ok and "no tune X:2" in records["folk.abc"].error


def test_without_pyarrow_the_manifest_is_json_lines(corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    out = tmp_path / "out"
    list(sai.batch("key", corpus, out_dir=out, format="mid"))
    assert sorted(p.name for p in out.iterdir()) == ["folk_abc.key.mid", "folk_mid.key.mid", "manifest.jsonl"]
    assert len(batching.read_manifest(out / "manifest.jsonl")) == 3
    assert len(list(sai.batch("key", corpus, out_dir=out, format="mid", resume=True))) == 1  # the broken one


def test_bad_arguments_fail_before_any_file(corpus, tmp_path):
    with pytest.raises(ParameterError, match="window_beats"):
        sai.batch("key", corpus, window_beats="long")
    with pytest.raises(ParameterError, match="format must be one of"):
        sai.batch("key", corpus, format="wav")
    with pytest.raises(ParameterError, match="resume needs an output directory"):
        sai.batch("key", corpus, resume=True)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="is a file; the batch output must be a directory"):
        sai.batch("key", corpus, out_dir=blocker)
    with pytest.raises(InputError, match="cannot be written"):
        sai.batch("key", corpus, out_dir=blocker / "sub")
    bad_list = tmp_path / "runs.jsonl"
    bad_list.write_text('{"input": "a.mid"}\nnot json\n{"input": "b.mid"}\n')
    with pytest.raises(InputError, match="line 2 is not JSON"):
        sai.batch("key", [bad_list])


def test_cli_batch(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["batch", "key", str(corpus), "-o", str(out), "--jobs", "2", "--format", "musicxml",
                     "--window-beats", "8"])
    err = capsys.readouterr().err
    assert code == 2  # a file failed
    assert f"symbolic-ai batch: {corpus / 'broken.mid'}: not a readable MIDI file" in err
    assert "symbolic-ai batch key: 2 done, 1 failed in" in err and str(out / "manifest.parquet") in err
    assert (out / "folk_mid.key.musicxml").exists()
    assert cli.main(["batch", "key", str(corpus / "folk.mid"), "-o", str(out), "--resume"]) == 0
    assert cli.main(["batch", "key", str(corpus), "-o", str(out), "--window-beats", "x"]) == 2
    assert "window_beats" in capsys.readouterr().err


def test_missing_ray_names_the_extra(corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"symbolic_ai\[ray\]"):
        sai.batch("key", corpus, out_dir=tmp_path / "out", engine="ray")  # at the call, before any output
    assert not (tmp_path / "out").exists()
    with pytest.raises(ParameterError, match="engine must be one of"):
        sai.batch("key", corpus, engine="dask")


# -- Ray: the same assertions on a local instance of two CPUs ----------------------------------
@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    from symbolic_ai.batching_ray import start_local

    start_local(ray, num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_engine(local_ray, corpus, tmp_path):
    out = tmp_path / "out"
    records = list(sai.batch("key", [corpus], out_dir=out, jobs=2, engine="ray"))
    check_run(records, out, corpus, "ray")
    assert local_ray.is_initialized()  # an instance it did not start is left running


def test_local_ray_workers_keep_our_priority(local_ray):
    niceness = local_ray.remote(lambda: os.nice(0))  # Ray's default puts its workers at nice 15
    assert local_ray.get(niceness.remote()) == os.nice(0)


@pytest.mark.parametrize(("files", "actors", "size"), [(5, 2, 3), (1, 2, 1), (20, 2, 8), (1000, 2, 63), (1000, 0, 64),
                                                       (200_000, 8, 64)])
def test_ray_batch_size(files, actors, size):
    from symbolic_ai.batching_ray import batch_size

    assert batch_size(files, actors) == size  # ~8 calls per actor, 8 to 64 files a call, every actor gets work


def test_ray_cluster_that_cannot_be_reached(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray instance is running in this process")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(SymbolicAIError, match=r"cannot reach the Ray cluster at RAY_ADDRESS=127\.0\.0\.1:9"):
        list(sai.batch("key", [EXAMPLES / "folk_melody.mid"], out_dir=tmp_path / "out", engine="ray"))

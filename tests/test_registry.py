"""The task registry: every task is fully described, its CLI flags come from it, results are JSON.

Parametrized over TASKS, so a newly registered task is covered without editing this file.
"""
from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from typing import Annotated, Literal

import numpy as np
import pytest

import symbolic_ai as sai
from conftest import EXAMPLES
from symbolic_ai import cli
from symbolic_ai.errors import ModelError, ParameterError
from symbolic_ai.registry import BUILTIN_TASKS, TASKS, Arg, Models, Output, Param, Result, task

NAMES = sorted(TASKS)
_spec = importlib.util.spec_from_file_location("demo", EXAMPLES / "demo.py")
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)


def test_registry_is_not_empty():
    assert "key" in NAMES


def test_builtin_tasks_load_on_first_read_of_the_table():
    code = ("import sys, symbolic_ai as sai\n"
            "assert not [m for m in sys.modules if m.startswith('symbolic_ai.tasks.')], 'imported for effect'\n"
            "import symbolic_ai.tasks.perform\n"  # a task module imported on its own registers only itself
            "print(','.join(sai.TASKS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ",".join(BUILTIN_TASKS)  # built-ins first, in their order, whatever was imported first


@pytest.mark.parametrize("name", NAMES)
def test_task_is_fully_described(name):
    spec = TASKS[name]
    assert spec.summary and "\n" not in spec.summary and len(spec.summary) <= 100
    assert spec.func.__doc__ and spec.func.__doc__.strip(), f"{name} needs a docstring (the CLI --help shows it)"
    assert spec.input in ("piece", "melody", "score", "performance")
    assert spec.output in ("annotations", "piece")
    for p in spec.params:
        assert p.help, f"{name}.{p.name} needs help text: Annotated[..., Arg('...')]"
        assert p.coerce(p.default, name) == p.default, f"{name}.{p.name}: the default fails its own check"
        json.dumps(p.schema())


@pytest.mark.parametrize("name", NAMES)
def test_cli_flags_come_from_the_registry(name, capsys):
    assert cli.main(["run", name, "--help"]) == 0
    text = capsys.readouterr().out
    assert TASKS[name].doc.splitlines()[0] in text
    for p in TASKS[name].params:
        flag = "--" + p.name.replace("_", "-")
        assert flag in text and p.help.split()[0] in text
    parser = cli.build_parser()
    run_sub = next(a for a in parser._subparsers._group_actions[0].choices["run"]._actions
                   if a.dest == "task")
    dests = {a.dest for a in run_sub.choices[name]._actions if a.dest.startswith("param_")}
    assert dests == {f"param_{p.name}" for p in TASKS[name].params}


@pytest.mark.parametrize("name", NAMES)
def test_result_is_json_for_every_task(name):
    spec = TASKS[name]
    if spec.model:
        from symbolic_ai.runtime import find_model
        try:
            find_model(spec.model)
        except ModelError as exc:
            pytest.skip(f"model not installed: {exc}")
    path = demo.inputs_for(spec.input)[0]
    result = sai.run(name, sai.load(path))
    assert isinstance(result, Result) and result.task == name
    assert result.params == spec.validate({})
    for full in (False, True):
        d = result.to_dict(include_piece=full)
        text = json.dumps(d, allow_nan=False)           # NaN must have become null
        assert json.loads(text)["task"] == name
    if spec.output == "annotations":
        assert len(result.piece) == len(sai.load(path))


@pytest.mark.parametrize("name", NAMES)
def test_result_is_json_for_a_performance_without_beats(name):
    spec = TASKS[name]
    if spec.model or spec.input not in ("piece", "performance"):
        pytest.skip("covered by the example run above")
    p = sai.load(EXAMPLES / "maple_leaf_rag.mid")
    n = p.notes.copy()
    n["onset_beat"], n["duration_beat"], n["bar"], n["beat_in_bar"] = np.nan, np.nan, -1, np.nan
    perf = p.replace(notes=n, tempos=(), time_signatures=())
    json.dumps(sai.run(name, perf).to_dict(include_piece=True), allow_nan=False)


def test_cli_tasks_table_lists_every_task(capsys):
    assert cli.main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert any(line.split()[0] == name for line in out.splitlines()[1:])


# -- Param.coerce ----------------------------------------------------------------------------------
B = Param("flag", bool, False, "a switch")
I = Param("steps", int, 4, "a count", minimum=1, maximum=64)
F = Param("width", float, 1.0, "a width", minimum=0.0, maximum=10.0)
S = Param("mode", str, "a", "a mode", choices=("a", "b"))
C = Param("size", int, 2, "a size", choices=(1, 2, 4))


@pytest.mark.parametrize("param, given, expected", [
    (B, "true", True), (B, " Yes ", True), (B, "ON", True), (B, "1", True), (B, "false", False),
    (B, "no", False), (B, "off", False), (B, "0", False), (B, 1, True), (B, 0.0, False),
    (B, np.bool_(True), True), (B, True, True),
    (I, 3, 3), (I, 3.0, 3), (I, "3", 3), (I, " 12 ", 12), (I, "4.0", 4), (I, np.int64(5), 5), (I, "+7", 7),
    (F, 2, 2.0), (F, "2.5", 2.5), (F, np.float32(0.5), 0.5), (F, 0, 0.0), (F, 10, 10.0),
    (S, "b", "b"), (C, "4", 4), (C, 4.0, 4),
])
def test_coerce_accepts(param, given, expected):
    got = param.coerce(given, "t")
    assert got == expected and type(got) is param.type


@pytest.mark.parametrize("param, given, words", [
    (B, "maybe", "must be a boolean, got 'maybe'"), (B, 2, "must be a boolean, got 2"), (B, None, "boolean"),
    (I, 3.5, "must be an integer, got 3.5"), (I, "3.5", "got '3.5'"), (I, True, "integer, got True"),
    (I, math.nan, "integer, got nan"), (I, "inf", "integer"), (I, 0, r"must be in [1, 64], got 0"),
    (I, 65, "got 65"), (I, [3], "integer"),
    (F, math.nan, "must be a number, got nan"), (F, "nan", "got 'nan'"), (F, math.inf, "number"),
    (F, "-inf", "number"), (F, True, "number, got True"), (F, "wide", "got 'wide'"), (F, -0.1, "[0, 10]"),
    (F, None, "number"),
    (S, 3, "must be a string, got 3"), (S, "c", "must be one of a, b; got 'c'"),
    (C, 3, "must be one of 1, 2, 4; got 3"),
])
def test_coerce_refuses_with_the_value(param, given, words):
    with pytest.raises(ParameterError) as exc:
        param.coerce(given, "t")
    msg = str(exc.value)
    assert msg.startswith(f"t: parameter {param.name!r}") and words in msg


def test_task_decorator_reads_types_ranges_and_choices():
    @task("_probe", summary="test only")
    def probe(piece, *, n: Annotated[int, Arg("count", ge=1, le=3)] = 2,
              how: Literal["x", "y"] = "x", on: bool = False) -> Output:
        """Probe."""
        return Output(piece, {"n": n})

    try:
        spec = TASKS["_probe"]
        assert [(p.name, p.type, p.minimum, p.maximum, p.choices) for p in spec.params] == [
            ("n", int, 1, 3, None), ("how", str, None, None, ("x", "y")), ("on", bool, None, None, None)]
        assert spec.param("n").schema() == {"type": "integer", "default": 2, "description": "count",
                                            "minimum": 1, "maximum": 3}
        piece = sai.Piece()
        res = sai.run("_probe", piece, n="3")
        assert (res.task, res.data, res.params) == ("_probe", {"n": 3}, {"n": 3, "how": "x", "on": False})
        assert res.piece is piece  # the registry builds the Result around what the task returned
        assert not spec.borrows_models
        with pytest.raises(ValueError, match="registered twice"):
            task("_probe", summary="again")(probe)
        def no_default(piece, *, k: int) -> Output: ...

        def bad_type(piece, *, k: list = []) -> Output: ...  # noqa: B006

        with pytest.raises(TypeError, match="needs a default"):
            task("_nodefault", summary="x")(no_default)
        with pytest.raises(TypeError, match="not one of bool, int, float, str"):
            task("_badtype", summary="x")(bad_type)
        assert "_nodefault" not in TASKS and "_badtype" not in TASKS
    finally:
        TASKS.pop("_probe", None)


def test_a_task_that_returns_no_output_is_named():
    @task("_old_style", summary="test only")
    def old_style(piece) -> Result:
        return Result("_old_style", piece, {})

    try:
        with pytest.raises(TypeError, match=r"task _old_style: its function must return Output\(piece, data\), got Result"):
            sai.run("_old_style", sai.Piece())
    finally:
        TASKS.pop("_old_style", None)


def test_borrowed_models_run_on_the_callers_device(monkeypatch):
    """`run(..., device=...)` reaches every model a task loads: its own and those it borrows."""
    import symbolic_ai.runtime as runtime

    loads = []
    real = runtime.load_model

    def recording(name, device="auto"):
        loads.append((name, device))
        return real(name, device=device)

    monkeypatch.setattr(runtime, "load_model", recording)
    seen = []

    @task("_borrower", summary="test only", model="chords-v1")
    def borrower(piece, *, model=None, models: Models | None = None) -> Output:
        seen.append(models)
        models.load("harmonize-v1")
        return Output(piece, {})

    try:
        assert TASKS["_borrower"].borrows_models and not TASKS["_borrower"].params
        sai.run("_borrower", sai.Piece(), device="cpu")
        assert seen == [Models("cpu")] and loads == [("chords-v1", "cpu"), ("harmonize-v1", "cpu")]
    finally:
        TASKS.pop("_borrower", None)
    loads.clear()
    piece = sai.load(EXAMPLES / "folk_melody.mid")
    sai.run("emotion", piece, device="cpu")
    assert ("emotion-v5", "cpu") in loads and ("chords-v1", "cpu") in loads
    assert all(device == "cpu" for _, device in loads)

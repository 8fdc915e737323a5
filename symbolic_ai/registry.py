"""The task registry: the single list of tasks that the API, CLI, daemon, docs and tests read.

A task is a function `f(piece, *, param=default, ..., [model]) -> Result` decorated with `@task`.
Its keyword-only parameters become the CLI flags, the daemon's OSC/HTTP options and the docs'
tables. Types come from the annotations: `Literal[...]` gives choices, `Annotated[float, Arg(...)]`
gives a help text and a range.

```python
@task("key", summary="Global and local key and mode")
def key(piece: Piece, *, window_beats: Annotated[float, Arg("window length", ge=4, le=256)] = 16.0) -> Result:
    ...
```
"""
from __future__ import annotations

import inspect
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, get_args, get_origin

import numpy as np

from .errors import ParameterError, UnknownTaskError
from .piece import Piece


@dataclass(frozen=True)
class Arg:
    """Metadata for a task parameter inside `Annotated[...]`: help text and inclusive range."""

    help: str = ""
    ge: float | None = None
    le: float | None = None


@dataclass(frozen=True)
class Param:
    name: str
    type: type
    default: Any
    help: str = ""
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None

    def coerce(self, value: Any, task: str = "") -> Any:
        """Convert a CLI/OSC/JSON value to this parameter's type and check it; ParameterError if not."""
        where = f"{task}: parameter {self.name!r}" if task else f"parameter {self.name!r}"
        given = value
        try:
            if self.type is bool:
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                        raise ValueError
                    value = low in ("1", "true", "yes", "on")
                elif isinstance(value, (int, float, np.integer, np.floating, np.bool_)) and value in (0, 1):
                    value = bool(value)
                elif not isinstance(value, bool):
                    raise ValueError
            elif self.type is int:
                if isinstance(value, str):
                    value = float(value.strip()) if not value.strip().lstrip("+-").isdigit() else int(value)
                if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                    raise ValueError
                if isinstance(value, (float, np.floating)) and not float(value).is_integer():
                    raise ValueError  # 3.0 is 3; 3.5, NaN and inf are not integers
                value = int(value)
            elif self.type is float:
                if isinstance(value, (bool, np.bool_)) or not isinstance(value, (str, int, float, np.number)):
                    raise ValueError
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError
            elif self.type is str:
                if not isinstance(value, str):
                    raise ValueError
        except (TypeError, ValueError):
            raise ParameterError(f"{where} must be {self.type_name}, got {given!r}") from None
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"{where} must be one of {', '.join(map(str, self.choices))}; got {value!r}")
        if self.minimum is not None and value < self.minimum or self.maximum is not None and value > self.maximum:
            raise ParameterError(f"{where} must be in {self.range_text}, got {value!r}")
        return value

    @property
    def type_name(self) -> str:
        return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}[self.type]

    @property
    def range_text(self) -> str:
        lo = "-inf" if self.minimum is None else f"{self.minimum:g}"
        hi = "inf" if self.maximum is None else f"{self.maximum:g}"
        return f"[{lo}, {hi}]"

    def schema(self) -> dict:
        """JSON-Schema of this parameter (used by the daemon's OpenAPI description)."""
        s: dict[str, Any] = {"type": {bool: "boolean", int: "integer", float: "number", str: "string"}[self.type],
                             "default": self.default, "description": self.help}
        if self.choices is not None:
            s["enum"] = list(self.choices)
        if self.minimum is not None:
            s["minimum"] = self.minimum
        if self.maximum is not None:
            s["maximum"] = self.maximum
        return s


@dataclass(frozen=True)
class Result:
    """What a task returns: the new Piece (annotated or transformed) and a JSON-ready summary."""

    task: str
    piece: Piece
    data: dict
    params: dict = field(default_factory=dict)

    def to_dict(self, *, include_piece: bool = False) -> dict:
        """`{"task", "params", "result"[, "piece"]}` as plain JSON values: NaN → None, numpy → Python."""
        from .io.wire import _clean, piece_to_dict

        d = {"task": self.task, "params": self.params, "result": self.data}
        if include_piece:
            d["piece"] = piece_to_dict(self.piece)
        return _clean(d)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    summary: str
    func: Callable[..., Result]
    params: tuple[Param, ...]
    model: str | None = None
    input: str = "piece"    # what the task expects: "piece", "melody", "score", "performance"
    output: str = "annotations"  # "annotations" (same notes, new labels) or "piece" (new notes)

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or self.summary)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ParameterError(f"{self.name}: unknown parameter {name!r}; "
                             f"parameters are {', '.join(p.name for p in self.params) or '(none)'}")

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """All parameters with defaults filled in, each coerced and range-checked."""
        out = {p.name: p.default for p in self.params}
        for k, v in params.items():
            out[k] = self.param(k).coerce(v, self.name)
        return out


TASKS: dict[str, TaskSpec] = {}


def _param_from(name: str, hint: Any, default: Any) -> Param:
    arg = Arg()
    if get_origin(hint) is typing.Annotated:
        hint, *extras = get_args(hint)
        arg = next((e for e in extras if isinstance(e, Arg)), arg)
    choices = None
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        hint = type(choices[0])
    if hint not in (bool, int, float, str):
        raise TypeError(f"task parameter {name!r}: type {hint!r} is not one of bool, int, float, str, Literal")
    return Param(name, hint, default, arg.help, choices, arg.ge, arg.le)


def task(name: str, *, summary: str, model: str | None = None, input: str = "piece",
         output: str = "annotations") -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Register a task function under `name`."""

    def register(func: Callable[..., Result]) -> Callable[..., Result]:
        hints = typing.get_type_hints(func, include_extras=True)
        params = []
        for pname, p in inspect.signature(func).parameters.items():
            if p.kind is not inspect.Parameter.KEYWORD_ONLY or pname == "model":
                continue
            if p.default is inspect.Parameter.empty:
                raise TypeError(f"task {name}: parameter {pname!r} needs a default")
            params.append(_param_from(pname, hints[pname], p.default))
        if name in TASKS:
            raise ValueError(f"task {name!r} is registered twice")
        TASKS[name] = TaskSpec(name, summary, func, tuple(params), model, input, output)
        return func

    return register


def get(name: str) -> TaskSpec:
    """The TaskSpec for `name`; UnknownTaskError lists the registered tasks."""
    from . import tasks  # noqa: F401  (registers the built-in tasks)

    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTaskError(f"unknown task {name!r}; tasks are {', '.join(sorted(TASKS))}") from None


def run(name: str, piece: Piece, *, device: str = "auto", model: str | None = None, **params: Any) -> Result:
    """Run task `name` on `piece` with validated parameters. `model` picks another model for the task
    than its default (a name such as 'emotion-v4', or a path to an .onnx file with its card)."""
    spec = get(name)
    if not isinstance(piece, Piece):
        raise ParameterError(f"{name}: expected a Piece, got {type(piece).__name__}; use symbolic_ai.load(path)")
    values = spec.validate(params)
    kwargs = dict(values)
    if model is not None and not spec.model:
        raise ParameterError(f"{name}: this task uses no model, got model={model!r}")
    if spec.model:
        from .runtime import load_model
        loaded = load_model(model or spec.model, device=device)
        if model is not None and loaded.card.get("task") != name:
            raise ParameterError(f"{name}: model {model!r} is a model for task {loaded.card.get('task')!r}, "
                                 f"not {name!r}")
        kwargs["model"] = loaded
    result = spec.func(piece, **kwargs)
    return Result(result.task, result.piece, result.data, values)

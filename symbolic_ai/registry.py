"""The task registry: the single list of tasks that the API, CLI, daemon, docs and tests read.

A task is a function `f(piece, *, param=default, ..., [model], [models]) -> Output` decorated with
`@task`; it returns `Output(piece, data)` (the new Piece and a JSON-ready dict) and `run` builds the
`Result` (task name, piece, data, parameters). Its keyword-only parameters become the CLI flags, the
daemon's OSC/HTTP options and the docs' tables. Types come from the annotations: `Literal[...]`
gives choices, `Annotated[float, Arg(...)]` gives a help text and a range. Three names are not
parameters: `model` receives the task's own model, loaded by `run`, and `models` a `Models` loader
on the caller's device for the models the task borrows (emotion reads chords with chords-v1, and
answers scores with emotion-v6); `@task(borrows=...)` names them, so the daemon preloads them too.
The third, `recording`, receives what `run(..., recording=...)` was given (an audio path or Audio:
`align` aligns it to the Piece). Such tasks are kept in their own table, `RECORDING_TASKS`, as they
need an input the others refuse: the API (`get`, `run`), the CLI (which passes the first INPUT as
the recording) and the daemon (a `recording_path` beside the score) serve both tables (`all_tasks`).

```python
@task("key", summary="Global and local key and mode")
def key(piece: Piece, *, window_beats: Annotated[float, Arg("window length", ge=4, le=256)] = 16.0) -> Output:
    ...
    return Output(piece, data)
```

The built-in tasks (`BUILTIN_TASKS`, `BUILTIN_RECORDING_TASKS`: modules of `symbolic_ai.tasks`) are
loaded by `load_builtin_tasks`, which the first read of a table (or `get`, `run`) calls.
"""
from __future__ import annotations

import importlib
import inspect
import math
import typing
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args, get_origin

import numpy as np

from .errors import ParameterError, UnknownTaskError
from .piece import Piece

if TYPE_CHECKING:
    from .runtime import Model

BUILTIN_TASKS = ("key", "chords", "harmonize", "perform", "emotion")  # modules of symbolic_ai.tasks, in list order
BUILTIN_RECORDING_TASKS = ("align", "locate")  # modules of symbolic_ai.tasks whose tasks take a recording
NOT_PARAMETERS = ("model", "models", "recording")  # keyword-only names `run` fills in (see the module docstring)


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
    choices: tuple[Any, ...] | None = None
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
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
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

    def schema(self) -> dict[str, Any]:
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


class Output(NamedTuple):
    """What a task function returns: the new Piece (annotated or transformed) and its JSON-ready data."""

    piece: Piece
    data: dict[str, Any]


@dataclass(frozen=True)
class Result:
    """What `run` returns: the task's name, the new Piece, its JSON-ready summary and the parameters."""

    task: str
    piece: Piece
    data: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, include_piece: bool = False) -> dict[str, Any]:
        """`{"task", "params", "result"[, "piece"]}` as plain JSON values: NaN → None, numpy → Python."""
        from .io.wire import _clean, piece_to_dict

        d = {"task": self.task, "params": self.params, "result": self.data}
        if include_piece:
            d["piece"] = piece_to_dict(self.piece)
        out: dict[str, Any] = _clean(d)
        return out

    def plot(self, path: Any = None, *, score: Piece | None = None, **options: Any) -> Any:
        """A piano roll with this result drawn on it; `score` is the task's input (perform: tempo
        and velocity against it). See `symbolic_ai.plot.plot`."""
        from .plot import plot
        return plot(self, path, score=score, **options)


@dataclass(frozen=True)
class Models:
    """Loads models on one execution device (cached per process by `runtime.load_model`). `run` gives
    a task that declares a `models` parameter the caller's, so the models it borrows from other
    tasks run where its own does."""

    device: str = "auto"

    def load(self, name: str) -> Model:
        """The model `name` (or a path to an .onnx file with its card) on this device."""
        from .runtime import load_model

        return load_model(name, device=self.device)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    summary: str
    func: Callable[..., Output]
    params: tuple[Param, ...]
    model: str | None = None
    input: str = "piece"    # what the task expects: "piece", "melody", "score", "performance"
    output: str = "annotations"  # "annotations" (same notes, new labels) or "piece" (new notes)
    borrows_models: bool = False  # the function takes `models` (a Models loader on the caller's device)
    takes_recording: bool = False  # the function takes `recording` (given to `run`, not a parameter)
    borrows: tuple[str, ...] = ()  # models the task loads through `models` besides its own (preloaded with it)

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


class TaskTable(MutableMapping[str, TaskSpec]):
    """name → TaskSpec of every registered task. Reading it first loads the built-in tasks
    (`load_builtin_tasks`); they come first, in BUILTIN_TASKS order, then others in registration order."""

    def __init__(self, builtins: tuple[str, ...] = BUILTIN_TASKS) -> None:
        self._builtins = builtins
        self._specs: dict[str, TaskSpec] = {}
        self._loading = False
        self._loaded = False

    def load_builtins(self) -> None:
        if self._loaded or self._loading:
            return
        self._loading = True
        try:
            for module in self._builtins:
                importlib.import_module(f"{__package__}.tasks.{module}")
            self._loaded = True
        finally:
            self._loading = False

    def register(self, spec: TaskSpec) -> None:
        """Add `spec` (without loading the built-ins: a task module registers while it is imported);
        ValueError if its name is taken."""
        if spec.name in self._specs:
            raise ValueError(f"task {spec.name!r} is registered twice")
        self._specs[spec.name] = spec

    def _ordered(self) -> list[str]:
        builtin = [n for n in self._builtins if n in self._specs]
        return builtin + [n for n in self._specs if n not in self._builtins]

    def __getitem__(self, name: str) -> TaskSpec:
        self.load_builtins()
        return self._specs[name]

    def __setitem__(self, name: str, spec: TaskSpec) -> None:
        if name != spec.name:
            raise ValueError(f"task {spec.name!r} cannot be registered under the name {name!r}")
        self.register(spec)

    def __delitem__(self, name: str) -> None:
        self.load_builtins()
        del self._specs[name]

    def __iter__(self) -> Iterator[str]:
        self.load_builtins()
        return iter(self._ordered())

    def __len__(self) -> int:
        self.load_builtins()
        return len(self._specs)

    def __repr__(self) -> str:
        return f"TaskTable({', '.join(self)})"


TASKS = TaskTable()
RECORDING_TASKS = TaskTable(BUILTIN_RECORDING_TASKS)  # tasks that take a recording (see the module docstring)


def load_builtin_tasks() -> None:
    """Import the built-in task modules (both tables'), each registering its task; once per process.
    Reading a table calls it, so only code that registers tasks of its own needs to."""
    TASKS.load_builtins()
    RECORDING_TASKS.load_builtins()


def all_tasks() -> list[TaskSpec]:
    """Every registered task: `TASKS` in order, then `RECORDING_TASKS`."""
    return [*TASKS.values(), *RECORDING_TASKS.values()]


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


def task(name: str, *, summary: str, model: str | None = None, input: str = "piece", output: str = "annotations",
         borrows: tuple[str, ...] = ()) -> Callable[[Callable[..., Output]], Callable[..., Output]]:
    """Register a task function under `name`; `borrows`: the other models it loads through `models`."""

    def register(func: Callable[..., Output]) -> Callable[..., Output]:
        hints = typing.get_type_hints(func, include_extras=True)
        params = []
        signature = inspect.signature(func).parameters
        for pname, p in signature.items():
            if p.kind is not inspect.Parameter.KEYWORD_ONLY or pname in NOT_PARAMETERS:
                continue
            if p.default is inspect.Parameter.empty:
                raise TypeError(f"task {name}: parameter {pname!r} needs a default")
            params.append(_param_from(pname, hints[pname], p.default))
        if borrows and "models" not in signature:
            raise TypeError(f"task {name}: borrows {borrows} but takes no `models` loader to load them with")
        spec = TaskSpec(name, summary, func, tuple(params), model, input, output, "models" in signature,
                        "recording" in signature, tuple(borrows))
        if name in TASKS._specs or name in RECORDING_TASKS._specs:
            raise ValueError(f"task {name!r} is registered twice")
        (RECORDING_TASKS if spec.takes_recording else TASKS).register(spec)
        return func

    return register


def get(name: str) -> TaskSpec:
    """The TaskSpec for `name`; UnknownTaskError lists the registered tasks."""
    for table in (TASKS, RECORDING_TASKS):
        if name in table:
            return table[name]
    raise UnknownTaskError(f"unknown task {name!r}; tasks are {', '.join(sorted(s.name for s in all_tasks()))}")


def run(name: str, piece: Piece, *, device: str = "auto", model: str | None = None, recording: Any = None,
        **params: Any) -> Result:
    """Run task `name` on `piece` with validated parameters. `model` picks another model for the task
    than its default (a name such as 'emotion-v4', or a path to an .onnx file with its card); every
    model the task loads, its own and any it borrows, runs on `device`. `recording` (an audio file
    path or `io.audio.Audio`) goes to a task that takes one (`align`), and only to such a task."""
    spec = get(name)
    if not isinstance(piece, Piece):
        raise ParameterError(f"{name}: expected a Piece, got {type(piece).__name__}; use symbolic_ai.load(path)")
    values = spec.validate(params)
    kwargs: dict[str, Any] = dict(values)
    if model is not None and not spec.model:
        raise ParameterError(f"{name}: this task uses no model, got model={model!r}")
    models = Models(device)
    if spec.model:
        loaded = models.load(model or spec.model)
        if model is not None and loaded.card.get("task") != name:
            raise ParameterError(f"{name}: model {model!r} is a model for task {loaded.card.get('task')!r}, "
                                 f"not {name!r}")
        kwargs["model"] = loaded
    if spec.borrows_models:
        kwargs["models"] = models
    if recording is not None and not spec.takes_recording:
        raise ParameterError(f"{name}: this task takes no recording")
    if spec.takes_recording:
        kwargs["recording"] = recording
    out = spec.func(piece, **kwargs)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], Piece) and isinstance(out[1], dict)):
        raise TypeError(f"task {name}: its function must return Output(piece, data), got {type(out).__name__}")
    return Result(name, out[0], out[1], values)

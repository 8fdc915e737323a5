"""The few exceptions symbolic_ai raises. Each message names the input and says what to do."""
from __future__ import annotations

from types import ModuleType


class SymbolicAIError(Exception):
    """Base class: every error the library raises on purpose."""

    code = "error"


class InputError(SymbolicAIError, ValueError):
    """A file or a Piece that cannot be used (missing, empty, corrupt, unsupported, too large)."""

    code = "bad_input"


class ParameterError(SymbolicAIError, ValueError):
    """A task parameter of the wrong type or out of its range."""

    code = "bad_parameter"


class UnknownTaskError(SymbolicAIError, KeyError):
    """A task name that is not in the registry."""

    code = "unknown_task"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelError(SymbolicAIError, RuntimeError):
    """A model file that is missing, corrupt or does not match its card."""

    code = "model"


class MissingDependencyError(SymbolicAIError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""

    code = "missing_dependency"


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency or raise a MissingDependencyError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is needed for this; install it with: pip install 'symbolic_ai[{extra}]'"
        ) from exc

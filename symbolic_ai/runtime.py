"""Finding models, reading their cards, and keeping one onnxruntime session per model.

A model is `<name>-v<N>.onnx` with a JSON card `<name>-v<N>.json` beside it. Search order:
the package's `symbolic_ai/models/`, then `$SYMBOLIC_AI_MODELS` (default
`~/.cache/symbolic_ai/models`), or an explicit path. Nothing is ever downloaded. When the card
holds `file_sha256` (every shipped card does), the file is checked against it once per process.
This module never imports torch or onnx.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError, ParameterError

PACKAGE_MODELS = Path(__file__).parent / "models"
_lock = threading.Lock()
_cache: dict[tuple[str, str, int], Model] = {}
_threads = int(os.environ.get("SYMBOLIC_AI_THREADS", "0"))
_verified: dict[tuple[str, str], bool] = {}  # (resolved path, card's file_sha256) already checked


def model_dirs() -> list[Path]:
    user = Path(os.environ.get("SYMBOLIC_AI_MODELS", Path.home() / ".cache" / "symbolic_ai" / "models"))
    return [PACKAGE_MODELS, user]


def find_model(name: str) -> Path:
    """Path of `<name>.onnx` (a name like 'encoder-v1', or a path to an .onnx file)."""
    p = Path(name)
    if p.suffix == ".onnx":
        if not p.exists():
            raise ModelError(f"{p}: model file not found")
        return p
    for d in model_dirs():
        candidate = d / f"{name}.onnx"
        if candidate.exists():
            return candidate
    raise ModelError(f"model {name!r} not found in {', '.join(map(str, model_dirs()))}; "
                     f"reinstall symbolic_ai or put {name}.onnx and {name}.json in one of them")


def read_card(onnx_path: Path) -> dict[str, Any]:
    card = onnx_path.with_suffix(".json")
    if not card.exists():
        raise ModelError(f"{onnx_path}: model card {card.name} is missing beside it")
    try:
        loaded: dict[str, Any] = json.loads(card.read_text())
        return loaded
    except json.JSONDecodeError as exc:
        raise ModelError(f"{card}: model card is not valid JSON ({exc})") from None


def verify_file(onnx_path: Path, card: dict[str, Any]) -> None:
    """Check the file's sha256 against the card's `file_sha256` (once per process per file and hash)."""
    want = card.get("file_sha256")
    if want is None:
        return
    key = (str(Path(onnx_path).resolve()), str(want))
    if key in _verified:
        return
    digest = hashlib.sha256()
    with open(onnx_path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != want:
        raise ModelError(f"{onnx_path}: sha256 {digest.hexdigest()[:12]}… differs from its card's file_sha256 "
                         f"{str(want)[:12]}… (file damaged or changed after export); reinstall symbolic_ai or "
                         f"re-export the model with its card")
    _verified[key] = True


def available_models() -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for d in model_dirs():
        for f in sorted(d.glob("*.onnx")) if d.exists() else []:
            card = {}
            try:
                card = read_card(f)
            except ModelError:
                pass
            seen.setdefault(f.stem, {"name": f.stem, "path": str(f), "task": card.get("task"),
                                     "size_mb": round(f.stat().st_size / 1e6, 2)})
    return list(seen.values())


def providers(device: str = "auto") -> list[str]:
    """Execution providers for `device`: 'cuda' needs CUDA, 'auto' uses it when present."""
    import onnxruntime as ort

    have = ort.get_available_providers()
    if device not in ("auto", "cpu", "cuda"):
        raise ParameterError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and "CUDAExecutionProvider" not in have:
        raise ParameterError("device 'cuda' was asked for but onnxruntime has no CUDA provider; "
                             "install onnxruntime-gpu or use --device cpu")
    if device != "cpu" and "CUDAExecutionProvider" in have:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def set_threads(n: int) -> None:
    """Intra-op threads for sessions created from now on (0 = onnxruntime's default)."""
    global _threads
    _threads = int(n)


@dataclass
class Model:
    """A loaded ONNX model and its card. `run(**inputs)` returns a dict of named outputs."""

    name: str
    path: Path
    card: dict[str, Any]
    session: Any

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    def run(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        missing = set(self.input_names) - set(inputs)
        if missing:
            raise ModelError(f"{self.name}: missing inputs {sorted(missing)}; expects {self.input_names}")
        outs = self.session.run(None, {k: inputs[k] for k in self.input_names})
        return dict(zip(self.output_names, outs))


def load_model(name: str, device: str = "auto") -> Model:
    """Load (once per process, device and thread count) the model `name` with its card."""
    import onnxruntime as ort

    key = (name, device, _threads)
    with _lock:
        if key in _cache:
            return _cache[key]
        path = find_model(name)
        card = read_card(path)
        verify_file(path, card)
        opts = ort.SessionOptions()
        if _threads:
            opts.intra_op_num_threads = _threads
        opts.log_severity_level = 3
        # Idle worker threads sleep instead of spinning: a task calls several models in turn (emotion
        # calls chords-v1 between its own calls), and a spinning pool steals the cores from the next one.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            sess = ort.InferenceSession(str(path), sess_options=opts, providers=providers(device))
        except Exception as exc:  # onnxruntime raises its own types for corrupt files
            raise ModelError(f"{path}: onnxruntime could not load the model ({exc})") from None
        model = Model(name, path, card, sess)
        _cache[key] = model
        return model


def describe() -> dict[str, Any]:
    """What `symbolic-ai info` prints about the runtime."""
    import onnxruntime as ort

    return {"onnxruntime": ort.__version__, "providers": ort.get_available_providers(),
            "model_dirs": [str(d) for d in model_dirs()], "models": available_models()}

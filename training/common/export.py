"""Export helpers every model's `export` step shares: compare a rebuilt ONNX file with the shipped one."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from symbolic_ai.runtime import PACKAGE_MODELS


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def compare(rebuilt: Path, shipped: Path, inputs: Sequence[dict[str, np.ndarray]], tol: float) -> dict:
    """How a rebuilt file matches a shipped one: max abs output difference on `inputs` (within `tol`?),
    the graph's sha256 without metadata (`card.sha256`) and the whole file's sha256."""
    import onnx

    from symbolic_ai.exports.card import model_sha256
    from symbolic_ai.exports.onnx import _ort, parity

    ref_sess = _ort(Path(shipped))
    names = [o.name for o in ref_sess.get_outputs()]
    reference = [{n: o.astype(np.float64) for n, o in zip(names, ref_sess.run(None, inp))} for inp in inputs]
    diff = parity(Path(rebuilt), reference, inputs)
    return {"rebuilt": str(rebuilt), "shipped": str(shipped), "max_abs_diff": diff, "tolerance": tol,
            "within_tolerance": max(diff.values()) <= tol,
            "graph_sha256_equal": model_sha256(onnx.load(str(rebuilt))) == model_sha256(onnx.load(str(shipped))),
            "file_sha256_equal": file_sha256(rebuilt) == file_sha256(shipped)}


def shipped(name: str) -> Path:
    """The installed default model `<name>.onnx` (what a rebuild is compared with)."""
    return PACKAGE_MODELS / f"{name}.onnx"

"""Model cards: one JSON file beside each `<name>-v<N>.onnx`, the same keys in its `metadata_props`.

Values are JSON in both places (metadata_props holds them as JSON strings). `sha256` is the hash of
the serialized model with its metadata_props left out, so it can be stored inside the file and
checked later (`verify`). The JSON card alone also holds `file_sha256`, the hash of the whole
.onnx file as written (it cannot be inside the file it hashes): the runtime checks it when the
model loads, with hashlib only. No torch here.
"""
from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

from symbolic_ai.errors import require

REQUIRED = ("name", "task", "version", "inputs", "outputs", "vocabulary", "labels", "training_data",
            "splits", "metrics", "sha256", "opset", "library_versions")
FILE_SHA256 = "file_sha256"  # in the JSON card only (see the module docstring)


def model_sha256(model) -> str:
    """sha256 of an onnx.ModelProto serialized without its metadata_props."""
    onnx = require("onnx", "train")

    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.metadata_props[:]
    return hashlib.sha256(m.SerializeToString(deterministic=True)).hexdigest()


def library_versions() -> dict[str, str]:
    onnx = require("onnx", "train")
    import onnxruntime

    from symbolic_ai import __version__

    out = {"symbolic_ai": __version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
           "python": platform.python_version()}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:
        pass
    return out


def io_spec(model) -> tuple[list[dict], list[dict]]:
    """Names, dtypes and shapes (symbolic names for dynamic axes) of the graph's inputs and outputs."""
    onnx = require("onnx", "train")

    def spec(v) -> dict:
        t = v.type.tensor_type
        dims = [d.dim_param or d.dim_value for d in t.shape.dim]
        return {"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name,
                "shape": dims, "dynamic_axes": {i: d for i, d in enumerate(dims) if isinstance(d, str)}}
    return [spec(v) for v in model.graph.input], [spec(v) for v in model.graph.output]


def make_card(model, *, name: str, task: str, version: int, vocabulary: Any, labels: Any,
              training_data: list[dict], splits: dict, metrics: dict, **extra: Any) -> dict:
    """The card of an onnx.ModelProto (inputs/outputs, opset and sha256 read from the model)."""
    inputs, outputs = io_spec(model)
    card = {"name": name, "task": task, "version": version, "inputs": inputs, "outputs": outputs,
            "vocabulary": vocabulary, "labels": labels, "training_data": training_data, "splits": splits,
            "metrics": metrics, "sha256": model_sha256(model),
            "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
            "library_versions": library_versions(), **extra}
    return json.loads(json.dumps(card))  # plain JSON types only (int keys become strings)


def write(model, card: dict, onnx_path: Path) -> Path:
    """Store `card` in the model's metadata_props and write both the .onnx and the .json card."""
    onnx = require("onnx", "train")

    from symbolic_ai.io import write_atomic

    missing = [k for k in REQUIRED if k not in card]
    if missing:
        raise ValueError(f"model card for {onnx_path.name} lacks {missing}")
    del model.metadata_props[:]
    card = {k: v for k, v in card.items() if k != FILE_SHA256}
    for k, v in card.items():
        model.metadata_props.add(key=k, value=json.dumps(v))
    onnx_path = Path(onnx_path)
    data = model.SerializeToString()
    write_atomic(onnx_path, data)
    card[FILE_SHA256] = hashlib.sha256(data).hexdigest()
    write_atomic(onnx_path.with_suffix(".json"), json.dumps(card, indent=1) + "\n")
    onnx.checker.check_model(str(onnx_path))
    return onnx_path


def verify(onnx_path: Path) -> dict:
    """Check that the card beside `onnx_path` matches the file: same keys and values, sha256.
    Returns the card; raises ValueError naming the first mismatch."""
    onnx = require("onnx", "train")

    onnx_path = Path(onnx_path)
    model = onnx.load(str(onnx_path))
    card = json.loads(onnx_path.with_suffix(".json").read_text())
    meta = {p.key: json.loads(p.value) for p in model.metadata_props}
    file_hash = card.get(FILE_SHA256)
    if file_hash is not None and hashlib.sha256(onnx_path.read_bytes()).hexdigest() != file_hash:
        raise ValueError(f"{onnx_path.name}: file_sha256 does not match the card (file changed after export?)")
    keys = set(card) - {FILE_SHA256}
    if set(meta) != keys:
        raise ValueError(f"{onnx_path.name}: card and metadata_props keys differ: {sorted(set(meta) ^ keys)}")
    for k in keys:
        if meta[k] != card[k]:
            raise ValueError(f"{onnx_path.name}: card key {k!r} differs from the model's metadata_props")
    if model_sha256(model) != card["sha256"]:
        raise ValueError(f"{onnx_path.name}: sha256 does not match the card (file changed after export?)")
    return card

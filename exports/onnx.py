"""Export a trained torch model to `<name>-v<N>.onnx` with its card: dry run, parity, int8.

`export()` is generic (any module with named tensor inputs/outputs): it exports with the dynamo
exporter (one file, dynamic axes), runs the file once in onnxruntime (dry run), compares torch and
onnxruntime on real inputs (max abs difference recorded in the card; fails above `tol`), and can
add a dynamically quantized int8 copy `<name>-v<N>-int8.onnx` with its own parity figures.
The workbench's export steps call these (`python -m training MODEL export`); this package never
imports `training`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from symbolic_ai.errors import ModelError, require

OPSET = 18


def _ort(path: Path, threads: int = 0):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def parity(path: Path, reference: Sequence[dict[str, np.ndarray]], inputs: Sequence[dict[str, np.ndarray]],
           ) -> dict[str, float]:
    """Max abs difference per output between `reference` outputs and onnxruntime on `inputs`."""
    sess = _ort(path)
    names = [o.name for o in sess.get_outputs()]
    worst = {n: 0.0 for n in names}
    for ref, inp in zip(reference, inputs):
        got = dict(zip(names, sess.run(None, inp)))
        for n in names:
            worst[n] = max(worst[n], float(np.abs(got[n].astype(np.float64) - ref[n]).max()))
    return worst


def export(module, example: dict[str, Any], path: Path, *, output_names: list[str],
           dynamic: dict[str, dict[int, str]], parity_inputs: Sequence[dict[str, np.ndarray]],
           tol: float = 1e-3) -> tuple[Any, dict]:
    """Export `module` (called with the keyword tensors of `example`) to `path`; returns
    (onnx.ModelProto, figures) after the dry run and the parity check."""
    onnx = require("onnx", "train")
    torch = require("torch", "train")

    module.eval()
    names = list(example)
    dims = {}
    shapes = {}
    for k, axes in dynamic.items():
        shapes[k] = {i: dims.setdefault(n, torch.export.Dim(n, min=1, max=8192)) for i, n in axes.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        prog = torch.onnx.export(module, tuple(example.values()), input_names=names, output_names=output_names,
                                 dynamic_shapes=tuple(shapes.get(k) for k in names), dynamo=True,
                                 opset_version=OPSET, external_data=False, optimize=True)
    prog.save(str(path), external_data=False)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    # dry run on the export example
    sess = _ort(path)
    sess.run(None, {k: v.numpy() for k, v in example.items()})
    # parity on real inputs
    reference = []
    with torch.no_grad():
        for inp in parity_inputs:
            out = module(**{k: torch.from_numpy(v) for k, v in inp.items()})
            out = out if isinstance(out, (tuple, list)) else (out,)
            reference.append({n: o.double().numpy() for n, o in zip(output_names, out)})
    diff = parity(path, reference, parity_inputs)
    if max(diff.values()) > tol:
        path.unlink()
        raise ModelError(f"{path.name}: torch vs onnxruntime max abs difference {diff} exceeds {tol}")
    return model, {"parity_max_abs_diff": diff, "parity_tolerance": tol, "parity_inputs": len(parity_inputs),
                   "_reference": reference}


def quantize(src: Path, dst: Path) -> Path:
    """Dynamic int8 quantization of the MatMul/Gemm weights (onnxruntime.quantization).
    The exporter's value_info (stale intermediate shapes) is dropped first: it can break the
    quantizer's shape inference."""
    import tempfile

    onnx = require("onnx", "train")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    plain = onnx.load(str(src))
    del plain.graph.value_info[:]
    del plain.metadata_props[:]
    with tempfile.TemporaryDirectory() as tmp:
        onnx.save(plain, f"{tmp}/plain.onnx")
        quantize_dynamic(f"{tmp}/plain.onnx", str(dst), weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul", "Gemm"])
    return dst

"""The layers (docs/architecture.md): the runtime `symbolic_ai` imports neither torch, onnx, the
workbench `training` nor `symbolic_ai.exports`; `exports` never imports `training`."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import symbolic_ai

from conftest import REPO

RUNTIME = Path(symbolic_ai.__file__).parent
BRIDGES = REPO / "bridges"
EXPORTS = REPO / "exports"


def _imports(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(), str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def _sources(*roots: Path) -> list[Path]:
    return [p for r in roots for p in sorted(r.rglob("*.py"))]


def test_no_runtime_module_names_training_exports_torch_or_onnx():
    bad = {}
    for path in _sources(RUNTIME, BRIDGES):
        hits = {m for m in _imports(path) if m.split(".")[0] in ("training", "torch", "onnx")
                or m.startswith("symbolic_ai.exports")}
        if hits:
            bad[str(path.relative_to(REPO))] = sorted(hits)
    assert bad == {}


def test_exports_never_import_training():
    bad = {str(p.relative_to(REPO)): sorted(m for m in _imports(p) if m.split(".")[0] == "training")
           for p in _sources(EXPORTS)}
    assert {k: v for k, v in bad.items() if v} == {}


def test_every_runtime_module_imports_with_torch_and_onnx_blocked():
    def module(path: Path, root: Path, prefix: str) -> str:
        parts = path.relative_to(root).with_suffix("").parts
        return ".".join((prefix, *parts[:-1])) if parts[-1] == "__init__" else ".".join((prefix, *parts))

    names = sorted([module(p, RUNTIME, "symbolic_ai") for p in _sources(RUNTIME)]
                   + [module(p, BRIDGES, "symbolic_ai.bridges") for p in _sources(BRIDGES)])
    assert "symbolic_ai.tasks.emotion" in names and "symbolic_ai.bridges.server" in names
    code = textwrap.dedent(f"""
        import importlib, json, sys
        for blocked in ("torch", "onnx", "training"):
            sys.modules[blocked] = None     # any import of them now raises ImportError
        failed = {{}}
        for name in {names!r}:
            try:
                importlib.import_module(name)
            except Exception as exc:
                failed[name] = repr(exc)
        print(json.dumps({{"failed": failed, "torch": sys.modules["torch"] is None}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res == {"failed": {}, "torch": True}

"""The runtime: model discovery order, cached sessions, providers, cards, and torch-free inference."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from symbolic_ai import runtime
from symbolic_ai.errors import ModelError, ParameterError

from conftest import EXAMPLES, REPO

SHIPPED = runtime.PACKAGE_MODELS / "encoder-v2-int8.onnx"


def test_torch_free_environment_loads_the_encoder_and_encodes_a_piece():
    code = textwrap.dedent(f"""
        import sys, json
        sys.modules["torch"] = None          # any `import torch` now raises ImportError
        import symbolic_ai
        from symbolic_ai import load, runtime
        from symbolic_ai.encoder import encode
        e = encode(load({str(EXAMPLES / "folk_melody.abc")!r}), device="cpu")
        m = runtime.load_model("encoder-v2-int8", device="cpu")
        print(json.dumps({{"shape": list(e.notes.shape), "bars": len(e.bars),
                          "int8_inputs": m.input_names, "torch": sys.modules["torch"] is None}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["shape"][1] == 256 and res["bars"] > 5 and res["torch"]
    assert res["int8_inputs"] == ["tokens", "mask"]


def test_package_models_come_first_then_the_user_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMBOLIC_AI_MODELS", str(tmp_path))
    assert runtime.model_dirs() == [runtime.PACKAGE_MODELS, tmp_path]
    assert runtime.find_model("encoder-v2-int8") == SHIPPED
    shutil.copy(SHIPPED, tmp_path / "mine-v1.onnx")
    shutil.copy(SHIPPED.with_suffix(".json"), tmp_path / "mine-v1.json")
    assert runtime.find_model("mine-v1") == tmp_path / "mine-v1.onnx"
    assert runtime.find_model(str(tmp_path / "mine-v1.onnx")) == tmp_path / "mine-v1.onnx"
    names = [m["name"] for m in runtime.available_models()]
    assert "encoder-v2-int8" in names and "mine-v1" in names
    with pytest.raises(ModelError, match="nope-v1"):
        runtime.find_model("nope-v1")
    with pytest.raises(ModelError, match="not found"):
        runtime.find_model(str(tmp_path / "missing.onnx"))


def test_sessions_are_cached_per_device_and_threads():
    a = runtime.load_model("encoder-v2-int8", device="cpu")
    assert runtime.load_model("encoder-v2-int8", device="cpu") is a
    runtime.set_threads(1)
    try:
        b = runtime.load_model("encoder-v2-int8", device="cpu")
        assert b is not a and b.session.get_session_options().intra_op_num_threads == 1
        # tasks call several models in turn: a pool left spinning would steal the cores from the next
        assert b.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    finally:
        runtime.set_threads(0)


def test_providers():
    assert runtime.providers("cpu") == ["CPUExecutionProvider"]
    assert runtime.providers("auto")[-1] == "CPUExecutionProvider"
    with pytest.raises(ParameterError, match="'gpu'"):
        runtime.providers("gpu")
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ParameterError, match="cuda"):
            runtime.providers("cuda")


def test_corrupt_model_and_missing_card_are_model_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMBOLIC_AI_MODELS", str(tmp_path))
    (tmp_path / "broken-v1.onnx").write_bytes(b"this is not onnx")
    (tmp_path / "broken-v1.json").write_text("{}")
    with pytest.raises(ModelError, match="could not load"):
        runtime.load_model("broken-v1", device="cpu")
    (tmp_path / "nocard-v1.onnx").write_bytes(SHIPPED.read_bytes())
    with pytest.raises(ModelError, match="card"):
        runtime.load_model("nocard-v1", device="cpu")
    (tmp_path / "badcard-v1.onnx").write_bytes(SHIPPED.read_bytes())
    (tmp_path / "badcard-v1.json").write_text("{oops")
    with pytest.raises(ModelError, match="not valid JSON"):
        runtime.load_model("badcard-v1", device="cpu")


def test_missing_input_is_a_model_error():
    m = runtime.load_model("encoder-v2-int8", device="cpu")
    with pytest.raises(ModelError, match="mask"):
        m.run(tokens=None)


@pytest.mark.parametrize("name", ["encoder-v2-int8"])
def test_shipped_cards_match_their_files(name):
    pytest.importorskip("onnx", reason="reading a card from metadata_props needs onnx (the train extra)")
    from symbolic_ai.exports.card import REQUIRED, verify

    path = runtime.PACKAGE_MODELS / f"{name}.onnx"
    card = verify(path)
    assert set(REQUIRED) <= set(card) and card["name"] == name and card["task"] == "encoder"
    assert [i["name"] for i in card["inputs"]] == ["tokens", "mask"]
    assert [o["name"] for o in card["outputs"]] == ["hidden", "pooled"]
    assert card["inputs"][0]["dtype"] == "int64" and card["inputs"][1]["dtype"] == "bool"
    assert card["inputs"][0]["shape"][:2] == ["batch", "seq"]
    assert path.stat().st_size < 20e6


DEFAULT_MODELS = {"chords-v1", "embed-v2-audio", "embed-v2-midi", "emotion-v5", "emotion-v6", "encoder-v2-int8",
                  "harmonize-v1", "perform-v5", "perform-v5-tempo"}


def test_only_default_models_ship_and_every_card_has_its_file_hash():
    import hashlib

    assert {p.stem for p in runtime.PACKAGE_MODELS.glob("*.onnx")} == DEFAULT_MODELS
    for name in DEFAULT_MODELS:
        path = runtime.PACKAGE_MODELS / f"{name}.onnx"
        card = runtime.read_card(path)
        assert card["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), name


def test_the_wheel_lists_every_shipped_model_file():
    """setup.cfg's package_data is what a wheel (not an editable install) carries: it named emotion-v4-int8
    for two releases after emotion-v5 replaced it."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    listed = set(cfg["options.package_data"]["symbolic_ai.models"].split())
    shipped = {p.name for p in runtime.PACKAGE_MODELS.iterdir() if p.suffix in (".onnx", ".json")}
    assert listed == shipped


def test_a_model_that_differs_from_its_card_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMBOLIC_AI_MODELS", str(tmp_path))
    data = bytearray(SHIPPED.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside a weight
    (tmp_path / "tampered-v1.onnx").write_bytes(bytes(data))
    shutil.copy(SHIPPED.with_suffix(".json"), tmp_path / "tampered-v1.json")
    with pytest.raises(ModelError, match=r"tampered-v1\.onnx: sha256 .* differs from its card's file_sha256.*reinstall"):
        runtime.load_model("tampered-v1", device="cpu")
    # an unchanged copy loads, and is hashed once per process
    shutil.copy(SHIPPED, tmp_path / "copy-v1.onnx")
    shutil.copy(SHIPPED.with_suffix(".json"), tmp_path / "copy-v1.json")
    assert runtime.load_model("copy-v1", device="cpu").input_names == ["tokens", "mask"]
    calls = []
    monkeypatch.setattr(runtime.hashlib, "sha256", lambda *a: calls.append(a) or hashlib_sha256(*a))
    runtime.verify_file(tmp_path / "copy-v1.onnx", runtime.read_card(tmp_path / "copy-v1.onnx"))
    assert calls == []


def hashlib_sha256(*a):
    import hashlib

    return hashlib.sha256(*a)

"""ONNX export pipeline on a tiny encoder: dry run, parity, cards in JSON and metadata_props, int8."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import EXAMPLES
from symbolic_ai import load
from symbolic_ai.errors import ModelError
from symbolic_ai.tokens import default_tokenizer

torch = pytest.importorskip("torch", reason="export tests need the train extra (torch)")
pytest.importorskip("onnxscript", reason="export tests need the train extra (onnxscript)")
from symbolic_ai.exports import card as cards  # noqa: E402
from symbolic_ai.exports import onnx as export_onnx  # noqa: E402
from training.encoder.export import export_encoder  # noqa: E402
from training.encoder.model import Encoder, EncoderConfig  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    enc = Encoder(EncoderConfig(d_model=32, n_layers=2, n_heads=2, d_ff=64, max_len=1024)).eval()
    torch.save(enc.checkpoint(objective="test"), out / "tiny.pt")
    card = export_encoder(out / "tiny.pt", out, version=7, metrics={"probe": {"acc": 0.5}})
    return enc, out, card


def test_card_and_metadata_props_agree(exported):
    _, out, card = exported
    assert sorted(p.name for p in out.iterdir()) == ["encoder-v7-int8.json", "encoder-v7-int8.onnx",
                                                     "encoder-v7.json", "encoder-v7.onnx", "tiny.pt",
                                                     "tokens-v1.json"]
    for name in ("encoder-v7", "encoder-v7-int8"):
        c = cards.verify(out / f"{name}.onnx")
        assert set(cards.REQUIRED) <= set(c) and c["opset"] == export_onnx.OPSET
        assert c["inputs"][0]["dynamic_axes"] == {"0": "batch", "1": "seq"}
        assert c["vocabulary"]["vocab_sizes"] == default_tokenizer().vocab_sizes
        assert {d["licence"] for d in c["training_data"]} and c["pretraining"] == {"objective": "test"}
    assert card["metrics"]["probe"] == {"acc": 0.5}
    diff = card["metrics"]["parity_max_abs_diff"]
    assert set(diff) == {"hidden", "pooled"} and max(diff.values()) < 1e-3


def test_verify_catches_a_changed_card(exported):
    _, out, _ = exported
    tmp = out / "changed"
    tmp.mkdir(exist_ok=True)
    (tmp / "m-v1.onnx").write_bytes((out / "encoder-v7.onnx").read_bytes())
    c = json.loads((out / "encoder-v7.json").read_text())
    c["metrics"] = {"acc": 1.0}
    (tmp / "m-v1.json").write_text(json.dumps(c))
    with pytest.raises(ValueError, match="metrics"):
        cards.verify(tmp / "m-v1.onnx")


def test_cards_hold_the_file_hash_that_the_runtime_checks(exported, tmp_path, monkeypatch):
    import hashlib

    from symbolic_ai import runtime
    from symbolic_ai.errors import ModelError

    _, out, _ = exported
    for name in ("encoder-v7", "encoder-v7-int8"):
        card = json.loads((out / f"{name}.json").read_text())
        assert card["file_sha256"] == hashlib.sha256((out / f"{name}.onnx").read_bytes()).hexdigest()
    (tmp_path / "m-v1.json").write_text((out / "encoder-v7.json").read_text())
    import onnx

    model = onnx.load(str(out / "encoder-v7.onnx"))
    model.producer_version = "changed"  # same card, same graph: the file differs
    (tmp_path / "m-v1.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(ValueError, match="file_sha256"):
        cards.verify(tmp_path / "m-v1.onnx")
    monkeypatch.setenv("SYMBOLIC_AI_MODELS", str(tmp_path))
    with pytest.raises(ModelError, match="m-v1.onnx: sha256"):
        runtime.load_model("m-v1", device="cpu")


@pytest.mark.parametrize("n", [3, 7, 300, 1024])
def test_onnx_matches_torch_at_lengths_other_than_the_export_example(exported, n):
    enc, out, _ = exported
    t = default_tokenizer().encode(load(EXAMPLES / "maple_leaf_rag.mid"))[:n]
    tok = np.stack([t, t])
    mask = np.ones(tok.shape[:2], dtype=bool)
    mask[1, n // 2 + 1:] = False
    sess = export_onnx._ort(out / "encoder-v7.onnx")
    hidden, pooled = sess.run(None, {"tokens": tok, "mask": mask})
    with torch.no_grad():
        ref = enc(torch.from_numpy(tok), torch.from_numpy(mask))
    assert np.abs(hidden[mask] - ref["hidden"].numpy()[mask]).max() < 1e-4
    assert np.abs(pooled - ref["pooled"].numpy()).max() < 1e-4


def test_int8_copy_is_smaller_and_close(exported):
    _, out, _ = exported
    q = json.loads((out / "encoder-v7-int8.json").read_text())
    assert (out / "encoder-v7-int8.onnx").stat().st_size < (out / "encoder-v7.onnx").stat().st_size
    assert q["metrics"]["pooled_cosine_min_vs_torch_fp32"] > 0.95


def test_export_fails_above_the_parity_tolerance_and_leaves_no_file(tmp_path):
    lin = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with pytest.raises(ModelError, match="exceeds"):
        export_onnx.export(lin, {"input": x}, tmp_path / "lin-v1.onnx", output_names=["y"],
                           dynamic={"input": {0: "batch"}}, parity_inputs=[{"input": x.numpy()}], tol=-1.0)
    assert not (tmp_path / "lin-v1.onnx").exists()

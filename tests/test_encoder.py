"""The shared encoder: torch model API, pre-training objectives, and `encode()` through onnxruntime."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import EXAMPLES
from symbolic_ai import load
from symbolic_ai.errors import InputError, ParameterError
from symbolic_ai.piece import Piece, TimeSignature, notes_from_columns
from symbolic_ai.tokens import MASK, N_SPECIAL, Tokenizer, default_tokenizer

torch = pytest.importorskip("torch", reason="the encoder model tests need the train extra (torch)")
from training.encoder import objectives  # noqa: E402
from training.encoder import model as encoder_model  # noqa: E402
from training.encoder.model import Encoder, EncoderConfig, pretrained_checkpoint  # noqa: E402


def tiny() -> Encoder:
    torch.manual_seed(0)
    return Encoder(EncoderConfig(d_model=32, n_layers=2, n_heads=2, d_ff=64, dropout=0.0)).eval()


def batch_of(*names: str) -> torch.Tensor:
    tk = default_tokenizer()
    seqs = [tk.encode(load(EXAMPLES / n))[:100] for n in names]
    out = np.zeros((len(seqs), max(map(len, seqs)), 5), dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return torch.from_numpy(out)


def test_padding_does_not_change_real_tokens():
    m = tiny()
    b = batch_of("folk_melody.abc")
    padded = torch.cat([b, torch.zeros(1, 30, 5, dtype=torch.long)], dim=1)
    with torch.no_grad():
        a, p = m(b)["hidden"], m(padded)["hidden"][:, : b.shape[1]]
    assert torch.allclose(a, p, atol=1e-5)


def test_film_hooks_and_layers():
    m = tiny()
    b = batch_of("folk_melody.abc", "chorale_bwv66_6.musicxml")
    with torch.no_grad():
        base = m(b, return_layers=True)
        zero = m(b, film={0: (torch.zeros(1, 1, 32), torch.zeros(1, 1, 32))})
        moved = m(b, film={0: (torch.ones(2, 1, 32), torch.zeros(2, 1, 32))})
        hooked = m(b, hooks={1: lambda h: h * 0})
    assert len(base["layers"]) == 2 and base["pooled"].shape == (2, 32)
    assert torch.allclose(base["hidden"], zero["hidden"])
    assert not torch.allclose(base["hidden"], moved["hidden"])
    assert torch.allclose(hooked["hidden"], torch.zeros_like(hooked["hidden"]), atol=1e-4)  # LayerNorm of 0 (+bias 0)


def test_checkpoint_round_trip(tmp_path):
    m = tiny()
    torch.save(m.checkpoint(), tmp_path / "e.pt")
    m2 = Encoder.from_pretrained(tmp_path / "e.pt")
    b = batch_of("folk_melody.abc")
    with torch.no_grad():
        assert torch.equal(m(b)["hidden"], m2(b)["hidden"])


def test_denoising_moves_only_selected_notes_within_the_ranges():
    b = batch_of("maple_leaf_rag.mid", "chorale_bwv66_6.musicxml")
    vocab = list(Tokenizer().vocab_sizes.values())
    fields = list(Tokenizer().config.fields)
    x, sel, idx = objectives.denoise(b, vocab, fields, torch.Generator().manual_seed(0))
    notes = objectives.note_mask(b)
    assert sel[~notes].sum() == 0 and 0.2 < sel[notes].float().mean() < 0.4
    assert torch.equal(x[~sel], b[~sel])
    d = (x - b)[sel]
    assert d[:, 1].abs().max() <= 4 and d[:, 2].abs().max() <= 12 and d[:, 3].abs().max() <= 12
    assert d[:, [0, 4]].abs().max() == 0 and (x >= N_SPECIAL).all(-1)[notes].all()
    assert [fields[i] for i in idx] == ["position", "pitch", "duration"]


def test_mlm_masks_about_15_percent_of_notes():
    b = batch_of("maple_leaf_rag.mid", "chorale_bwv66_6.musicxml")
    vocab = list(Tokenizer().vocab_sizes.values())
    x, sel, idx = objectives.mlm(b, vocab, torch.Generator().manual_seed(0))
    notes = objectives.note_mask(b)
    assert 0.08 < sel[notes].float().mean() < 0.25 and idx == [0, 1, 2, 3, 4]
    assert (x[sel] == MASK).all(-1).float().mean() > 0.6 and torch.equal(x[~sel], b[~sel])


def test_bar_roll_target_of_a_known_bar():
    # bar 0: C4 half note at beat 0 and E4 quarter at beat 2; bar 1: G4 eighth at beat 1
    n = notes_from_columns(onset_beat=[0, 2, 5], duration_beat=[2, 1, 0.5], pitch=[60, 64, 67])
    t = torch.from_numpy(Tokenizer().encode(Piece(notes=n, time_signatures=(TimeSignature(0, 4, 4),))))[None]
    tc = Tokenizer().config
    r = objectives.bar_roll(t, list(tc.fields), list(tc.duration_ticks))
    assert r.shape == (1, 5, 16 * 86 + 12)
    roll0 = r[0, 1, :-12].view(16, 86)
    assert roll0[:8, 60 - 22].tolist() == [1.0] * 8 and roll0[8:, 60 - 22].sum() == 0
    assert roll0[8:12, 64 - 22].sum() == 4 and roll0.sum() == 12
    assert torch.equal(r[0, 1], r[0, 2])                       # same bar, same target
    roll1 = r[0, 3, :-12].view(16, 86)
    assert roll1[4:6, 67 - 22].sum() == 2 and roll1.sum() == 2
    chroma0 = r[0, 1, -12:]
    assert chroma0[0] == 1.0 and chroma0[4] == 0.5 and chroma0.sum() == 1.5


@pytest.mark.parametrize("objective", objectives.OBJECTIVES)
def test_objectives_give_finite_losses_that_backpropagate(objective):
    m = tiny().train()
    b = batch_of("maple_leaf_rag.mid", "folk_melody.abc")
    loss, parts = objectives.loss(m, b, objective, torch.Generator().manual_seed(0))
    loss.backward()
    assert np.isfinite(parts["loss"]) and m.embed[2].weight.grad.abs().sum() > 0
    assert ("roll" in parts) == (objective == "denoise+roll")
    with pytest.raises(ValueError, match="objective"):
        objectives.loss(m, b, "nope", torch.Generator())


# -- the shipped model -------------------------------------------------------------------------
def test_encode_shapes_ids_and_bars():
    from symbolic_ai.encoder import encode

    p = load(EXAMPLES / "chorale_bwv66_6.musicxml")
    e = encode(p, device="cpu")
    n = len(p.pitched())
    assert e.notes.shape == (n, 256) and e.pooled.shape == (256,) and np.isfinite(e.notes).all()
    assert sorted(e.note_ids.tolist()) == sorted(p.pitched()["id"].tolist())
    assert e.bars.shape == (len(np.unique(p.notes["bar"])), 256)
    assert np.allclose(e.pooled, e.notes.mean(0), atol=1e-5)
    assert np.allclose(e.bars[0], e.notes[e.tokens[:, 0] >= 0][: (p.pitched()["bar"] == 0).sum()].mean(0), atol=1e-5)


def test_windowed_encoding_covers_every_note():
    from symbolic_ai.encoder import encode

    p = load(EXAMPLES / "maple_leaf_rag.mid")
    full, win = encode(p, device="cpu"), encode(p, device="cpu", max_len=64)
    assert win.notes.shape == full.notes.shape and np.array_equal(win.note_ids, full.note_ids)
    cos = (win.pooled @ full.pooled) / np.linalg.norm(win.pooled) / np.linalg.norm(full.pooled)
    assert cos > 0.9


def test_encode_rejects_bad_input():
    from symbolic_ai.encoder import encode

    with pytest.raises(InputError, match="no pitched notes"):
        encode(Piece(), device="cpu")
    with pytest.raises(ParameterError, match="max_len"):
        encode(load(EXAMPLES / "folk_melody.abc"), max_len=5000, device="cpu")
    with pytest.raises(InputError, match="Piece"):
        encode("not a piece")


def test_shipped_int8_matches_the_committed_torch_weights_within_its_card():
    from symbolic_ai import runtime
    from symbolic_ai.encoder import DEFAULT_MODEL, encode

    checkpoint = pretrained_checkpoint()
    assert DEFAULT_MODEL == "encoder-v2-int8" and checkpoint.name == "encoder-v2.pt" and checkpoint.exists()
    card = runtime.load_model(DEFAULT_MODEL, device="cpu").card["metrics"]
    enc = Encoder.from_pretrained(checkpoint)
    p = load(EXAMPLES / "folk_melody.abc")
    e = encode(p, device="cpu")
    t = torch.from_numpy(default_tokenizer().encode(p))[None]
    with torch.no_grad():
        out = enc(t)
    h = out["hidden"][0, 1:-1].numpy()
    assert np.abs(h - e.notes).max() <= card["parity_max_abs_diff_vs_torch_fp32"]["hidden"]
    mean = h.mean(0)  # e.pooled is the mean over the notes
    assert float(mean @ e.pooled / (np.linalg.norm(mean) * np.linalg.norm(e.pooled))) > 0.999


# -- the pre-training corpus -------------------------------------------------------------------
def test_held_out_matching_is_by_whole_path_segment():
    from training.encoder.corpus import is_held_out

    p = ["asap/Chopin/Etudes_op_10/1", "batik/Mozart|K281-"]
    assert is_held_out("asap/Chopin/Etudes_op_10/1", p) and is_held_out("batik/Mozart|K281-3", p)
    assert not is_held_out("asap/Chopin/Etudes_op_10/12", p) and not is_held_out("batik/Mozart|K2810-1", p)


def test_works_held_out_elsewhere_are_not_pre_trained_on(data_root):
    from training.encoder.corpus import held_out_works, is_held_out

    p = held_out_works(data_root)
    # BPS-FH piece 1 is test there but ASAP lists its sonata as train; K279 is When-in-Rome test
    assert is_held_out("asap/Beethoven/Piano_Sonatas/1-1", p) and is_held_out("batik/Mozart|K279-2", p)
    assert is_held_out("asap/Bach/Fugue/bwv_854", p)  # WTC I no. 9 is When-in-Rome test
    assert not is_held_out("asap/Beethoven/Piano_Sonatas/2-1", p)  # BPS-FH train


def test_the_pretraining_checkpoint_is_restored_from_git_history_and_checked(tmp_path, monkeypatch):
    """It lives in history, not in the tree: a clone restores it on first use; a wrong file is refused."""
    import subprocess

    have = subprocess.run(["git", "cat-file", "-e", f"{encoder_model.CHECKPOINT_COMMIT}:training/encoder/encoder-v2.pt"],
                          cwd=Path(encoder_model.__file__).parent, capture_output=True).returncode == 0
    if not have:
        pytest.skip("not a git clone with history (the checkpoint's commit is missing)")
    monkeypatch.setattr(encoder_model, "CHECKPOINT", tmp_path / "encoder-v2.pt")
    restored = pretrained_checkpoint()
    assert restored == tmp_path / "encoder-v2.pt" and restored.stat().st_size > 4e6
    restored.write_bytes(b"not the checkpoint")
    with pytest.raises(SystemExit, match="sha256"):
        pretrained_checkpoint()

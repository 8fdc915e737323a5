"""embeddings (embed-v2): encoder inputs, the shipped ONNX encoders, and `locate`'s embedding re-ranking (tiny inputs built here)."""
from __future__ import annotations

import numpy as np
import pytest

from symbolic_ai import embed as E
from symbolic_ai.errors import InputError


def tone(freq: float, sec: float, sr: int = E.SR) -> np.ndarray:
    t = np.arange(int(sec * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_midi_inputs_window_scaling_and_d4():
    pitch = np.array([60, 72, 40, 41, 90])
    onset = np.array([1.0, 1.5, 2.0, 2.0, 9.0])  # the last starts after the 4-second window
    n = E.midi_inputs(pitch, onset, np.full(5, 0.5), np.full(5, 64), start_sec=1.0)
    p, num, d4 = n
    assert p.shape == (E.MAX_NOTES,) and num.shape == (E.MAX_NOTES, 3) and d4.shape == (E.MAX_NOTES, 2)
    assert list(p[:5]) == [61, 73, 41, 42, 0]  # pitch + 1 in onset order, 0 pads
    assert np.allclose(num[:4, 0], [0.0, 0.125, 0.25, 0.25]) and np.allclose(num[:4, 2], 64 / 127)
    # previous / next intervals over two octaves, clamped to one octave (±0.5)
    assert np.allclose(d4[:4, 0], [0.0, 0.5, -0.5, 1 / 24]) and np.allclose(d4[:4, 1], [0.5, -0.5, 1 / 24, 0.0])
    assert not d4[4:].any() and not num[4:].any()


def test_audio_frames_and_a4_bands():
    mel, bands = E.audio_frames(tone(440.0, 2.0))
    assert mel.shape[1] == E.N_MEL and bands.shape[1] == 8 and abs(len(mel) - 2.0 * E.FPS) <= 2
    assert int(np.argmax(bands[20])) == 3  # 440 Hz lies in the 375-750 Hz octave
    m, a4 = E.audio_inputs(mel[:E.SEG_FRAMES], bands[:E.SEG_FRAMES])
    assert a4.shape == (len(m), 16) and abs(float(m.mean())) < 1e-3
    assert np.allclose(a4[:, :8].mean(axis=0), 0.0, atol=1e-3)  # z-scored per band


@pytest.fixture(scope="module")
def embedder() -> E.Embedder:
    return E.Embedder.load()


def test_shipped_encoders_give_unit_vectors_deterministically(embedder):
    y = np.concatenate([tone(262.0, 2.5), tone(392.0, 2.5), tone(330.0, 2.0)])
    a = embedder.audio_segments(y, np.array([0.0, 2.0]))
    assert a.shape == (2, E.DIM) and np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    assert np.array_equal(a, embedder.audio_segments(y, np.array([0.0, 2.0])))
    assert np.allclose(a[1], embedder.audio_segments(y, np.array([2.0]))[0], atol=1e-5)  # batch-independent
    m = embedder.note_segments(np.array([60, 67, 64]), np.array([0.0, 2.5, 5.0]), np.full(3, 2.0),
                               np.full(3, 80), np.array([0.0, 4.0, 30.0]))  # the last window holds no note
    assert m.shape == (3, E.DIM) and np.isfinite(m).all() and np.allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-4)
    with pytest.raises(InputError, match="audio inputs must be"):
        embedder.audio(np.zeros((1, 10, 3), np.float32), np.zeros((1, 10, 16), np.float32))


def test_card_names_the_pair_and_the_data(embedder):
    for model in (embedder.audio_model, embedder.midi_model):
        card = model.card
        assert card["task"] == "embed" and card["arm"] in ("plain", "desc", "xattn")
        assert {d["dataset"] for d in card["training_data"]} >= {"asap", "batik_mozart", "pop909", "emopia"}
        assert 0.5 < card["metrics"]["valid"]["base"]["S"] <= 1.0


@pytest.fixture()
def clip_and_score(tmp_path):
    """A 5-second audio clip (beats 6-11) of test_align's tune, and the tune as a Piece."""
    sf = pytest.importorskip("soundfile")
    pytest.importorskip("librosa")
    from test_align import EVENTS, SR, performed_times, render, score_of

    score = score_of(EVENTS)
    y = render(score, lead=0.0, tail=0.0)
    a, b = performed_times(np.array([6.0, 11.0]), 0.0)
    clip = tmp_path / "clip.wav"
    sf.write(str(clip), y[int(a * SR) - 200:int(b * SR)], SR)
    return clip, score


def test_locate_reranked_by_embeddings_still_finds_the_clip(embedder, clip_and_score):
    from symbolic_ai.tasks.locate import clip_features, embed_rerank, search

    clip, score = clip_and_score
    places = search(clip_features(str(clip))[0], score, 5)
    ranked = embed_rerank(str(clip), score, places, embedder, weight=0.25)
    assert sorted(ranked, key=id) == sorted(places, key=id)  # the same places, re-ordered
    assert abs(ranked[0].start_beat - 6.0) <= 1.0
    assert embed_rerank(str(clip), score, [], embedder, weight=0.25) == []


def test_locate_over_files_with_embeddings_names_the_right_file(clip_and_score, tmp_path):
    from test_align import OTHER, score_of

    from symbolic_ai import io
    from symbolic_ai.tasks.locate import locate_in

    clip, score = clip_and_score
    mid, other = tmp_path / "score.mid", tmp_path / "other.mid"
    io.save(score, mid)
    io.save(score_of(OTHER), other)
    plain = locate_in(str(clip), [other, mid], k=3, embed_weight=0.0)
    ranked = locate_in(str(clip), [other, mid], k=3, embed_weight=0.5)
    assert ranked[0]["path"] == str(mid) and abs(ranked[0]["start_beat"] - 6.0) <= 1.0
    assert len(ranked) == 3 and ranked[0]["score"] == plain[0]["score"]  # scores stay alignment's


def test_retrieval_pools_hold_exactly_the_protocols_negatives():
    from training.embed.evaluate import HARD, POOL, SEMI, pool_stats, pools, retrieval

    sizes = {"p0": 119, "p1": 119, "p2": 60, "p3": 14, "p4": 14, "p5": 119}
    composers = {"p0": "A", "p1": "A", "p2": "B", "p3": "", "p4": "", "p5": "B"}
    piece = np.array([p for p, n in sizes.items() for _ in range(n)])
    composer = np.array([composers[p] for p in piece])
    start = np.concatenate([np.arange(n) * 2.0 for n in sizes.values()])  # 4-s segments every 2 s
    queries, pool = pools(piece, composer, start)
    assert pool.shape == (len(queries), POOL) and (pool[:, 0] == queries).all()
    assert set(piece[queries]) == {"p0", "p1", "p5"}  # only pieces long enough for HARD negatives ask
    for q, row in zip(queries[:50], pool[:50]):
        same = row[1:][piece[row[1:]] == piece[q]]
        assert len(same) == HARD and (np.abs(start[same] - start[q]) >= E.SEG_SEC).all()  # none overlaps
        kin = (composer[row[1:]] == composer[q]) & (piece[row[1:]] != piece[q])
        assert kin.sum() == SEMI and len(set(row)) == POOL
    assert pool_stats(piece, composer, start) == {
        "queries": len(queries), "pool": POOL, "query_pieces": 3, "hard": 64.0, "semi": 32.0, "random": 159.0,
        "segments": len(piece), "pieces": 6}
    rng = np.random.default_rng(0)
    e = rng.normal(size=(len(piece), 8))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    assert retrieval(e, e, piece, composer, start)["S"] == 1.0  # identical embeddings: every pair found first
    assert retrieval(e, e[rng.permutation(len(e))], piece, composer, start)["S"] < 0.2  # unrelated: near chance

"""The `perform` task: codec, features, rendering, infilling, control parameters, errors, CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import symbolic_ai as sai
import symbolic_ai.tasks.perform as perform_task  # noqa: F401  (registers the task)
from conftest import DATA, EXAMPLES
from symbolic_ai.errors import InputError, ParameterError
from symbolic_ai.perform_features import (FEATURE_NAMES, N_FEATURES, decode_performance, encode_performance, params_to_targets,
                                          score_features, targets_to_params)
from symbolic_ai.piece import Piece, notes_from_columns


# -- codec and features (no model) -------------------------------------------------------------
def _toy():
    rng = np.random.default_rng(3)
    onset = np.repeat(np.arange(0, 32, 0.5), 2)
    duration = np.tile([0.5, 1.0], 64)
    bp = 0.5 + 0.1 * np.sin(onset / 5)            # seconds per quarter, varying
    perf_onset = np.cumsum(np.r_[0, np.diff(onset) * bp[:-1]]) + rng.normal(0, 0.01, len(onset))
    return onset, duration, perf_onset, duration * bp * 0.8, rng.integers(30, 100, len(onset))


def test_codec_round_trip_recovers_the_performance():
    onset, duration, po, pd, vel = _toy()
    params = encode_performance(onset, duration, po, pd, vel)
    assert params.shape == (len(onset), 4) and np.isfinite(params).all()
    on, du, v = decode_performance(onset, duration, params)
    np.testing.assert_allclose(on, po - po.min(), atol=1e-9)
    np.testing.assert_allclose(du, np.maximum(pd, 0.075), rtol=1e-9)
    np.testing.assert_array_equal(v, vel)


def test_targets_standardisation_inverts():
    onset, duration, po, pd, vel = _toy()
    params = encode_performance(onset, duration, po, pd, vel)
    stats = {"mean": [-1.0, 0.5, 0.0, -0.3], "std": [0.5, 0.2, 0.05, 0.7]}  # a model without the pedal
    back = targets_to_params(params_to_targets(params, stats), stats)
    np.testing.assert_allclose(back, params, rtol=1e-5, atol=1e-6)


def test_pedal_codec_on_a_tiny_performance():
    from symbolic_ai.perform_features import decode_pedal, encode_pedal, pedal_spans

    # four one-beat chords played at 0, 1, 2, 3 s (the second chord's notes spread), 1 s each
    onset = np.repeat([0.0, 1.0, 2.0, 3.0], 2)
    po = np.array([0.0, 0.0, 1.0, 1.02, 2.0, 2.0, 3.0, 3.0])
    pd = np.full(8, 1.0)
    # pedal: down 0.2–1.0 (lifted at chord 2), down 1.25–3.0, then pressed at 3.5 and never released
    t = np.array([0.0, 0.2, 1.0, 1.25, 1.9, 3.0, 3.5])
    v = np.array([0, 127, 10, 90, 70, 0, 127])
    np.testing.assert_allclose(pedal_spans(t, v), [[0.2, 1.0], [1.25, 3.0], [3.5, np.inf]])
    f = encode_pedal(onset, po, pd, t, v)
    np.testing.assert_allclose(f, np.repeat([0.8, 0.75, 1.0, 0.5], 2))
    assert encode_pedal(onset, po, pd, np.zeros(0), np.zeros(0)).tolist() == [0.0] * 8
    ev = decode_pedal(onset, po, pd, f)
    # chord 1 pressed 0.2 s in, lifted at chord 2 and pressed again 0.25 s later, held through chord
    # 3 (no lift: f = 1), lifted at chord 4 and pressed halfway through it until its end
    np.testing.assert_allclose(ev, [(0.2, 127), (1.0, 0), (1.25, 127), (3.0, 0), (3.5, 127), (4.0, 0)])
    np.testing.assert_allclose(encode_pedal(onset, po, pd, [e[0] for e in ev], [e[1] for e in ev]), f)
    # a tiny lift merges two presses, tiny presses and zero fractions give nothing
    ev = decode_pedal(onset, po, pd, np.repeat([1.0, 0.99, 0.01, 0.0], 2))
    np.testing.assert_allclose(ev, [(0.0, 127), (2.0, 0)])
    assert decode_pedal(onset, po, pd, np.zeros(8)) == [] and decode_pedal([], [], [], []) == []


def test_targets_with_the_pedal_column():
    stats = {"mean": [-1.0, 0.5, 0.0, -0.3, 0.4], "std": [0.5, 0.2, 0.05, 0.7, 0.4]}
    params = np.array([[0.5, 0.5, 0.01, -0.2, 0.0], [0.4, 0.7, -0.02, 0.1, 1.0], [0.6, 0.3, 0.0, 0.0, 0.3]])
    x = params_to_targets(params, stats)
    assert x.shape == (3, 5)
    np.testing.assert_allclose(targets_to_params(x, stats), params, rtol=1e-5, atol=1e-6)
    assert targets_to_params(np.full((1, 5), 9.0), stats)[0, 4] == 1.0  # clipped to a fraction
    assert params_to_targets(params[:, :4], stats).shape == (3, 5)  # no pedal given: 0 (up)
    assert params_to_targets(params, {k: v[:4] for k, v in stats.items()}).shape == (3, 4)  # a v1 model


def test_score_features_are_finite_and_mark_chords():
    onset = np.array([0.0, 0.0, 0.0, 1.0, 2.5])
    f = score_features(onset, np.array([1, 1, 1, 1.5, 0]), np.array([48, 60, 64, 62, 67]),
                       onset % 4, np.full(5, 4.0), np.ones(5), np.array([1, 0, 0, 0, -1]))
    assert f.shape == (5, N_FEATURES) and np.isfinite(f).all()
    names = list(FEATURE_NAMES)
    np.testing.assert_allclose(f[:3, names.index("chord_size")], 0.3, rtol=1e-6)
    assert f[2, names.index("chord_top")] == 1 and f[0, names.index("chord_bottom")] == 1
    assert f[4, names.index("grace")] == 1 and f[4, names.index("staff_known")] == 0
    assert f[0, names.index("downbeat")] == 1 and f[4, names.index("on_beat")] == 0


def test_group_features_pool_each_onset_group():
    from symbolic_ai.perform_features import N_GROUP_FEATURES, group_features

    onset = np.array([0.0, 0.0, 1.0, 2.0, 2.0, 2.0])
    f = np.arange(6 * N_FEATURES, dtype=np.float32).reshape(6, N_FEATURES)
    g, groups = group_features(f, onset)
    assert g.shape == (3, N_GROUP_FEATURES) and [list(x) for x in groups] == [[0, 1], [2], [3, 4, 5]]
    np.testing.assert_allclose(g[0, :N_FEATURES], f[:2].mean(0))
    np.testing.assert_allclose(g[2, N_FEATURES:2 * N_FEATURES], f[5])
    np.testing.assert_allclose(g[:, -1], np.log2([2, 1, 3]) / 4)


def test_tempo_curve_mixes_the_curve_models_shape_around_the_note_models_level(monkeypatch):
    from types import SimpleNamespace

    from symbolic_ai.tasks import perform as pt

    onset = np.array([0.0, 0.0, 1.0, 2.0, 3.0])
    feats = np.zeros((5, N_FEATURES), np.float32)
    bp = np.array([0.5, 0.5, 0.5, 0.5, 0.5])
    curve = np.array([0.0, 1.0, 0.0, -1.0])  # log2, per onset group
    seen = {}

    def fake_load(name):
        seen["name"] = name
        return SimpleNamespace(run=lambda groups: {"curve": curve[None].astype(np.float32)})

    monkeypatch.setattr(pt, "load_model", fake_load)
    plain = SimpleNamespace(card={})
    assert pt.tempo_curve(plain, feats, onset, bp, 1.0) is bp  # no tempo model: the note model's tempo
    with_curve = SimpleNamespace(card={"tempo_model": "perform-vX-tempo"})
    got = np.log2(pt.tempo_curve(with_curve, feats, onset, bp, 1.0))
    assert seen["name"] == "perform-vX-tempo"
    level = np.log2(0.5) - (2 * 0 + 1 + 0 - 1) / 5  # the curve centred on its note-weighted mean
    np.testing.assert_allclose(got, level + np.array([0, 0, 1, 0, -1]))
    half = np.log2(pt.tempo_curve(with_curve, feats, onset, bp, 0.5))
    np.testing.assert_allclose(half - np.log2(0.5), (got - np.log2(0.5)) / 2)
    assert pt.tempo_curve(with_curve, feats, onset, bp, 0.0) is bp


def test_windows_cover_every_note_with_overlap():
    from symbolic_ai.tasks.perform import windows

    assert windows(100, 256) == [(0, 100)]
    w = windows(1000, 256)
    covered = np.zeros(1000, int)
    for lo, hi in w:
        assert hi - lo == 256
        covered[lo:hi] += 1
    assert covered.min() >= 1 and (covered > 1).sum() > 0


@pytest.mark.data
def test_codec_matches_partitura_on_a_batik_movement(data_root):
    pt = pytest.importorskip("partitura")
    from partitura.musicanalysis.performance_codec import decode_time, encode_tempo

    from training.perform.data import extract

    a = extract(str(data_root / "batik_mozart" / "match" / "kv283_2.match"))
    mine = encode_performance(a["onset"], a["duration"], a["perf_onset"], a["perf_duration"], a["velocity"])
    ref = encode_tempo(a["onset"], a["perf_onset"], a["duration"], np.maximum(a["perf_duration"], 0.075))
    for j, k in ((0, "beat_period"), (2, "timing"), (3, "articulation_log")):
        np.testing.assert_allclose(mine[:, j], ref[k], atol=1e-5)
    par = np.zeros(len(mine), dtype=[(k, "f8") for k in ("beat_period", "velocity", "timing", "articulation_log")])
    for j, k in enumerate(par.dtype.names):
        par[k] = mine[:, j]
    dref = decode_time(a["onset"], a["duration"], par)
    on, du, _ = decode_performance(a["onset"], a["duration"], mine, grace_duration=False)
    np.testing.assert_allclose(on, dref[:, 0], atol=1e-5)
    np.testing.assert_allclose(du, dref[:, 1], atol=1e-5)
    # and partitura's own encoder on the parsed match agrees in velocity with ours
    perf, alignment, score = pt.load_match(str(data_root / "batik_mozart" / "match" / "kv283_2.match"),
                                           create_score=True)
    params, _ids = pt.musicanalysis.encode_performance(score, perf, alignment)[:2]
    assert np.allclose(np.sort(params["velocity"]), np.sort(mine[:, 1]), atol=1e-6)


# -- the task (shipped model) ------------------------------------------------------------------
@pytest.fixture(scope="module")
def chorale():
    return sai.load(EXAMPLES / "chorale_bwv66_6.musicxml")


def test_renders_the_chorale_with_a_note_per_score_note(chorale):
    r = sai.run("perform", chorale, seed=1)
    notes = r.data["notes"]
    assert len(notes) == len(chorale.pitched()) == len(r.piece.notes)
    assert {"score_id", "pitch", "onset_sec", "duration_sec", "velocity"} <= set(notes[0])
    assert sorted(n["score_id"] for n in notes) == sorted(chorale.notes["id"].tolist())
    p = r.piece.notes
    assert (p["duration_sec"] > 0).all() and (p["velocity"] >= 1).all() and p["onset_sec"].min() >= 0
    assert r.piece.has_beats and r.data["timing"] == "beats"  # the tempo map keeps the score's bars
    # it is not deadpan: velocities and inter-onset ratios vary
    assert np.std(p["velocity"]) > 1
    # no tempo marking: the default 80 qpm (36 quarter notes: 27 s deadpan), plus fermatas and the ritardando
    assert r.data["tempo"]["source"] == "default" and abs(r.data["tempo"]["rendered_qpm"] / 80 - 1) < 0.05
    assert 27 < r.data["duration_sec"] < 45


def test_seeded_and_seed_dependent(chorale):
    a = sai.run("perform", chorale, seed=5).piece.notes
    b = sai.run("perform", chorale, seed=5).piece.notes
    c = sai.run("perform", chorale, seed=6).piece.notes
    np.testing.assert_array_equal(a["onset_sec"], b["onset_sec"])
    assert not np.array_equal(a["onset_sec"], c["onset_sec"])


def test_keep_preserves_the_given_bars(chorale):
    n = chorale.notes.copy()
    n["velocity"] = 20 + (np.arange(len(n)) * 7) % 90
    given = chorale.replace(notes=n)
    r = sai.run("perform", given, keep="1-2", seed=0)
    kept = (n["bar"] >= 1) & (n["bar"] <= 2)  # the chorale has a pickup: printed bar = Piece.bar
    out = {int(i): int(v) for i, v in zip(r.piece.notes["id"], r.piece.notes["velocity"])}
    assert r.data["kept_notes"] == int(kept.sum()) > 0
    assert all(out[int(i)] == int(v) for i, v in zip(n["id"][kept], n["velocity"][kept]))


def test_pedal_in_json_annotations_and_midi(tmp_path):
    import mido

    score = sai.load(EXAMPLES / "maple_leaf_rag.musicxml")
    r = sai.run("perform", score, seed=0)
    ev = r.data["pedal"]
    assert ev and [e["value"] for e in ev] == [127, 0] * (len(ev) // 2)
    times = [e["time_sec"] for e in ev]
    assert times == sorted(times) and times[0] >= 0 and times[-1] <= r.data["duration_sec"] + 1e-3
    presses = r.piece.annotations_of("pedal")  # in the performance's beats (its tempo map)
    np.testing.assert_allclose(r.piece.beat_to_sec(np.array([(a.start_beat, a.end_beat) for a in presses])),
                               np.reshape(times, (-1, 2)), atol=1e-4)
    assert np.diff(np.reshape(times, (-1, 2)), axis=1).min() >= 0.25  # no flicker
    out = sai.save(r.piece, tmp_path / "perf.mid")
    cc = [m for tr in mido.MidiFile(out).tracks for m in tr if m.type == "control_change" and m.control == 64]
    assert len(cc) == len(ev) * len(r.piece.tracks)
    back = sai.load(out)
    assert back.has_beats and back.annotations_of("pedal") == presses
    absolute = sai.run("perform", score, seed=0, timing="absolute")  # today's form: seconds, nominal beats
    assert not absolute.piece.has_beats
    np.testing.assert_allclose([(a.start_beat / 2, a.end_beat / 2) for a in absolute.piece.annotations_of("pedal")],
                               np.reshape(times, (-1, 2)), atol=1e-4)


def test_keep_keeps_the_given_pedal(chorale):
    from symbolic_ai.piece import Annotation

    starts = chorale.bar_starts()
    held = chorale.annotate([Annotation("pedal", float(starts[1]), float(starts[3]))])  # bars 1–2 under pedal
    r = sai.run("perform", held, keep="1-2", seed=0)
    out = r.piece.notes
    kept_ids = chorale.notes["id"][(chorale.notes["bar"] >= 1) & (chorale.notes["bar"] <= 2)]
    on = np.unique(np.round(out["onset_sec"][np.isin(out["id"], kept_ids)], 4))
    mids = (on[:-1] + on[1:]) / 2  # between consecutive kept onsets the pedal is down
    ev = np.reshape([e["time_sec"] for e in r.data["pedal"]], (-1, 2))
    assert all(((ev[:, 0] <= t) & (t <= ev[:, 1])).any() for t in mids)


def test_emotion_and_style_change_the_rendering(chorale):
    base = sai.run("perform", chorale, seed=2).piece.notes
    for kw in ({"emotion": "calm"}, {"style": "staccato"}):
        other = sai.run("perform", chorale, seed=2, guidance=3.0, **kw).piece.notes
        assert not np.allclose(base["onset_sec"], other["onset_sec"])


def test_valence_arousal_pick_the_quadrant(chorale):
    from symbolic_ai.tasks.perform import emotion_word

    assert emotion_word("none", 0.5, -0.2) == "calm" and emotion_word("none", -0.5, 0.7) == "tense"
    assert emotion_word("sad", 0.0, 0.0) == "sad" and emotion_word("Q1", 0.0, 0.0) == "happy"
    a = sai.run("perform", chorale, valence=-0.8, arousal=-0.8, seed=3).piece.notes
    b = sai.run("perform", chorale, emotion="Q3", seed=3).piece.notes
    np.testing.assert_array_equal(a["onset_sec"], b["onset_sec"])


def test_temperature_and_samples(chorale):
    cold = [sai.run("perform", chorale, temperature=0.0, seed=s).piece.notes for s in (1, 2)]
    np.testing.assert_array_equal(cold[0]["onset_sec"], cold[1]["onset_sec"])  # no noise: seed-free
    one = sai.run("perform", chorale, temperature=1.0, seed=1)
    four = sai.run("perform", chorale, temperature=1.0, seed=1, samples=4)
    assert four.data["samples"] == 4 and four.data["temperature"] == 1.0
    assert not np.allclose(one.piece.notes["onset_sec"], four.piece.notes["onset_sec"])
    # averaging seeds pulls the render toward the noise-free one
    ref = cold[0]["velocity"].astype(float)
    assert np.abs(four.piece.notes["velocity"] - ref).mean() < np.abs(one.piece.notes["velocity"] - ref).mean()


def test_qpm_sets_the_tempo(chorale):
    slow = sai.run("perform", chorale, qpm=50, seed=0).data
    fast = sai.run("perform", chorale, qpm=140, seed=0).data
    assert slow["duration_sec"] > 2.5 * fast["duration_sec"]
    assert abs(slow["tempo"]["rendered_qpm"] / 50 - 1) < 0.05 and abs(fast["tempo"]["rendered_qpm"] / 140 - 1) < 0.05
    assert slow["tempo"]["source"] == "qpm" and not slow["warnings"]


def test_long_score_renders_in_windows(chorale):
    n = chorale.notes
    copies = 4  # 652 notes: three overlapping windows of 256
    notes = np.concatenate([n] * copies).copy()
    notes["onset_beat"] += np.repeat(np.arange(copies), len(n)) * 36.0  # the chorale lasts 36 quarters
    notes["onset_sec"], notes["bar"], notes["id"] = np.nan, -1, np.arange(len(notes))
    long = chorale.replace(notes=notes, annotations=())
    p = sai.run("perform", long, seed=0).piece.notes
    assert len(p) == len(notes)
    by_id = p[np.argsort(p["id"])]
    order = np.argsort(notes["onset_beat"], kind="stable")
    on, beat = by_id["onset_sec"][order], notes["onset_beat"][order]
    # the performance keeps the score's order of onsets (chords may spread) and has no gaps
    group_mean = np.array([on[beat == b].mean() for b in np.unique(beat)])
    assert (np.diff(group_mean) > 0).all()
    assert np.diff(np.unique(np.round(on, 2))).max() < 4.0


def test_bad_input_and_contradictory_parameters(chorale):
    with pytest.raises(InputError, match="no pitched notes"):
        sai.run("perform", sai.load(DATA / "drums_only.mid"))
    with pytest.raises(InputError, match="no pitched notes"):
        sai.run("perform", Piece())
    with pytest.raises(ParameterError, match="contradict"):
        sai.run("perform", chorale, qpm=90, free_tempo=True)
    with pytest.raises(ParameterError, match="contradict"):
        sai.run("perform", chorale, emotion="sad", valence=0.5, arousal=0.5)
    with pytest.raises(ParameterError, match="nothing is left"):
        sai.run("perform", chorale, keep="0-99")
    with pytest.raises(ParameterError, match="bars like"):
        sai.run("perform", chorale, keep="one")
    with pytest.raises(ParameterError, match="score's bars"):
        sai.run("perform", chorale, keep="200")
    with pytest.raises(ParameterError):
        sai.run("perform", chorale, emotion="ecstatic")
    for kw, msg in (({"temperature": 2.0}, "'temperature' must be in"), ({"temperature": -0.1}, "'temperature' must be in"),
                    ({"samples": 0}, "'samples' must be in"), ({"samples": 17}, "'samples' must be in"),
                    ({"temperature": 0.0, "samples": 4}, "same performance for every seed")):
        with pytest.raises(ParameterError, match=msg):
            sai.run("perform", chorale, **kw)
    seconds_only = Piece(notes=notes_from_columns(pitch=[60], onset_sec=[0.0], duration_sec=[1.0]), tempos=())
    with pytest.raises(InputError, match="beat grid"):
        sai.run("perform", seconds_only)


def test_qpm_against_the_marking_warns():
    r = sai.run("perform", sai.load(EXAMPLES / "maple_leaf_rag.musicxml"), qpm=50, seed=0)
    assert r.data["warnings"] and "contradicts" in r.data["warnings"][0]
    assert abs(r.data["tempo"]["rendered_qpm"] / 50 - 1) < 0.05


def test_too_long_score(chorale, monkeypatch):
    monkeypatch.setattr(perform_task, "MAX_NOTES", 100)
    with pytest.raises(InputError, match="over the limit of 100"):
        sai.run("perform", chorale)


def test_cli_renders_maple_leaf_calm_to_midi_without_torch(tmp_path):
    out = tmp_path / "out.mid"
    code = ("import sys; from symbolic_ai.cli import main; rc = main(['run', 'perform', "
            f"'{EXAMPLES / 'maple_leaf_rag.musicxml'}', '-o', '{out}', '--emotion', 'calm']); "
            "assert 'torch' not in sys.modules and 'partitura' not in sys.modules, 'imported torch'; sys.exit(rc)")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    back = sai.load(out)
    assert len(back.notes) == len(sai.load(EXAMPLES / "maple_leaf_rag.musicxml").pitched())
    js = subprocess.run([sys.executable, "-m", "symbolic_ai.cli", "run", "perform",
                         str(EXAMPLES / "folk_melody.mid"), "--json", "--style", "legato"],
                        check=True, capture_output=True, text=True).stdout
    doc = json.loads(js)
    assert doc["result"]["style"] == "legato" and len(doc["result"]["notes"]) == 60


def test_shipped_card_matches_the_model_and_the_task():
    pytest.importorskip("onnx", reason="reading a card from metadata_props needs onnx (the train extra)")
    from symbolic_ai.exports.card import verify
    from symbolic_ai.perform_features import CONTROL_DIMS, CONTROL_WORDS, TARGETS
    from symbolic_ai.registry import get
    from symbolic_ai.runtime import PACKAGE_MODELS

    assert get("perform").model == "perform-v5"
    assert not (PACKAGE_MODELS / "perform-v4.onnx").exists()  # replaced
    card = verify(PACKAGE_MODELS / "perform-v5.onnx")
    assert card["task"] == "perform" and card["objective"] == "flow"
    assert card["labels"] == list(TARGETS) and len(card["stats"]["mean"]) == 5  # with the pedal
    assert card["vocabulary"] == {"control_dims": list(CONTROL_DIMS), "words": list(CONTROL_WORDS)}
    assert len(card["control_stats"]["std"]) == len(CONTROL_DIMS)
    assert [i["name"] for i in card["inputs"]] == ["features", "x", "known", "mask", "t", "control", "tempo"]
    assert card["features"] == list(FEATURE_NAMES) and card["parity_max_abs"] < 1e-4
    from symbolic_ai.perform_features import N_GROUP_FEATURES

    curve = verify(PACKAGE_MODELS / f"{card['tempo_model']}.onnx")  # the tempo-curve model it names
    assert card["tempo_model"] == "perform-v5-tempo" and 0 < card["curve_weight"] <= 1
    assert [i["name"] for i in curve["inputs"]] == ["groups"] and curve["inputs"][0]["shape"][2] == N_GROUP_FEATURES
    assert [o["name"] for o in curve["outputs"]] == ["curve"] and curve["parity_max_abs"] < 1e-4


def test_training_masks_and_network_shapes():
    torch = pytest.importorskip("torch")
    from training.perform.train import MASK_KINDS, sample_mask
    from training.perform.model import N_PARAMS, PerformNet

    rng = np.random.default_rng(0)
    onset = np.sort(rng.integers(0, 200, 256) / 2.0)
    for _ in range(50):
        m = sample_mask(rng, onset, onset % 4)
        assert m.shape == (256,) and m.min() == 0 and set(np.unique(m)) <= {0.0, 1.0}
    assert len(MASK_KINDS) == 6
    assert N_PARAMS == 5  # beat period, velocity, timing, articulation, pedal
    for k in (N_PARAMS, 4):  # perform-v1 had no pedal
        net = PerformNet(N_FEATURES, d=32, layers=1, heads=2, n_params=k)
        B, N = 2, 17
        v = net(torch.randn(B, N, N_FEATURES), torch.randn(B, N, k), torch.randn(B, N, k), torch.ones(B, N, 1),
                torch.rand(B), torch.randn(B, 8), torch.zeros(B, 2))
        assert v.shape == (B, N, k) and torch.isfinite(v).all()


# -- markings and the score-side rules (no model) -------------------------------------------------
def _marked_score(path):
    """A two-bar MusicXML with the markings perform reads: Adagio, p < f, staccato, accent, tenuto,
    a fermata and a final bar line."""
    from music21 import articulations, bar, dynamics, expressions, meter, note, stream, tempo

    s, p = stream.Score(), stream.Part()
    m1 = stream.Measure(number=1)
    m1.insert(0, meter.TimeSignature("4/4"))
    m1.insert(0, tempo.MetronomeMark(text="Adagio"))
    m1.insert(0, dynamics.Dynamic("p"))
    ns = [note.Note(x, quarterLength=1) for x in ("C5", "D5", "E5", "F5")]
    for n, a in zip(ns, (articulations.Staccato(), articulations.Accent(), articulations.Tenuto())):
        n.articulations.append(a)
    for n in ns:
        m1.append(n)
    m2 = stream.Measure(number=2)
    m2.insert(0, dynamics.Dynamic("f"))
    last = note.Note("C5", quarterLength=2)
    last.expressions.append(expressions.Fermata())
    m2.append(note.Note("G5", quarterLength=2))
    m2.append(last)
    m2.rightBarline = bar.Barline("final")
    p.append(m1)
    p.append(m2)
    p.insert(0, dynamics.Crescendo(ns[0], ns[3]))
    s.insert(0, p)
    s.write("musicxml", fp=str(path))
    return sai.load(path)


def test_markings_are_read_into_annotations(tmp_path):
    from symbolic_ai.perform_rules import dynamic_levels, note_marks, tempo_targets

    score = _marked_score(tmp_path / "marked.musicxml")
    kinds = {a.kind for a in score.annotations}
    assert {"dynamic", "hairpin", "articulation", "fermata", "section", "words"} <= kinds
    assert [a.value for a in score.annotations_of("dynamic")] == ["p", "f"]
    assert score.annotations_of("hairpin")[0].value == "crescendo"
    notes = score.pitched()
    marks = note_marks(score, notes)  # columns: staccato, accent, tenuto, fermata, ornament
    assert marks[:, :4].tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0],
                                     [0, 0, 0, 1]]
    target, lo, hi, source, warnings = tempo_targets(score, notes["onset_beat"], 0.0)
    assert source == "marking" and (lo[0], hi[0]) == (66, 76) and target[0] == 71  # Adagio
    assert tempo_targets(score, notes["onset_beat"], 140.0)[4]  # qpm far from Adagio: a warning
    level, _accent = dynamic_levels(score, notes["onset_beat"])
    assert level[0] == 50 and level[4] == 88 and 50 < level[2] < 88  # p, f, and the crescendo between


def test_fermata_ritardando_and_target_tempo_in_the_rules():
    from symbolic_ai.perform_rules import FERMATA_HOLD, body_groups, mean_qpm, shape_tempo

    onset = np.arange(64.0)
    duration = np.ones(64)
    rng = np.random.default_rng(0)
    bp = 0.4 * np.exp(np.cumsum(rng.normal(0, 0.03, 64)))  # a drifting model tempo around 150 qpm
    fermata = np.zeros(64, bool)
    fermata[31] = True
    out = shape_tempo(onset, duration, bp, np.full(64, 90.0), fermata, 4.0, 0.6)
    times = np.r_[0, np.cumsum(out[:-1])]
    body = body_groups(onset, duration, fermata, 4.0)[3]
    assert abs(mean_qpm(onset, times, body) / 90 - 1) < 1e-6
    local = np.median(out[24:31])
    assert out[31] > 1.5 * local and abs(out[31] / local - FERMATA_HOLD) < 0.5
    assert out[-1] > 1.4 * np.median(out[40:56])  # the final ritardando
    first, second = np.median(out[:16]), np.median(out[32:48])
    assert abs(np.log(first / second)) < 0.1  # no drift


def test_rules_keep_a_share_of_the_models_slow_tempo_without_drift():
    from symbolic_ai.perform_rules import TREND_LIMIT, body_groups, mean_qpm, shape_tempo

    onset, duration, fermata = np.arange(96.0), np.ones(96), np.zeros(96, bool)
    bp = np.where(onset < 48, 0.5, 0.7)  # the model slows down by 40 % for the second half
    none = shape_tempo(onset, duration, bp, np.full(96, 90.0), fermata, 4.0, 0.0)
    half = shape_tempo(onset, duration, bp, np.full(96, 90.0), fermata, 4.0, 0.0, 0.5)
    assert abs(np.log(none[10] / none[80])) < 0.01  # share 0: the slow change is the target's (flat)
    ratio = np.log(half[80] / half[10])
    assert 0.5 * np.log(1.4) * 0.8 < ratio <= 2 * TREND_LIMIT  # half of it kept, within the limit
    times = np.r_[0, np.cumsum(half[:-1])]
    body = body_groups(onset, duration, fermata, 4.0)[3]
    assert abs(mean_qpm(onset, times, body) / 90 - 1) < 1e-6  # still the asked tempo on average


def test_harmony_features_find_a_dominant_and_its_cadence():
    from symbolic_ai.perform_features import harmony_features

    # C major (beat 0), G7 (beat 1), C major (beat 2), A minor (beat 3): block chords of one beat
    chords = [(48, 64, 67), (43, 59, 62, 65), (48, 64, 67), (45, 60, 64, 69)]
    on = np.repeat(np.arange(4.0), [len(c) for c in chords])
    pitch = np.array([p for c in chords for p in c])
    f = harmony_features(on, np.ones(len(on)), pitch, np.ones(len(on)))
    first = [int(np.flatnonzero(on == b)[0]) for b in range(4)]
    assert f[first, 0].tolist() == [1, 1, 1, 1]  # a new chord on every beat
    assert f[first, 1].tolist() == [0, 1, 0, 0]  # G7 resolves down a fifth; C → Am does not
    assert f[first, 2].tolist() == [0, 0, 1, 0]  # the cadence: where G7 resolves
    assert f[first[2], 3] == 0 and f[first[3], 4] > 0  # at the cadence; quarters since it after


def test_pedal_decoding_holds_through_one_harmony_and_has_no_flicker():
    from symbolic_ai.perform_features import PEDAL_MIN_DOWN_SEC, decode_pedal

    onset = np.arange(8.0)
    sec = onset * 0.5
    legato = np.full(8, 0.9)  # the model asks for legato pedalling at every onset
    same_chord = np.array([True] + [False] * 7)
    held = decode_pedal(onset, sec, np.full(8, 0.5), legato, same_chord)
    assert len(held) == 2  # one press through the unchanged harmony
    changes = decode_pedal(onset, sec, np.full(8, 0.5), legato, np.ones(8, bool))
    assert len(changes) == 16
    presses = np.diff(np.reshape([t for t, _ in changes], (-1, 2)), axis=1)
    assert presses.min() >= PEDAL_MIN_DOWN_SEC
    assert decode_pedal(onset, sec, np.full(8, 0.5), np.full(8, 0.2), np.ones(8, bool)) == []  # 0.1 s presses: none


def test_midi_has_a_tempo_map_and_keeps_the_bars(chorale, tmp_path):
    import mido

    r = sai.run("perform", chorale, seed=0)
    out = sai.save(r.piece, tmp_path / "perf.mid")
    mf = mido.MidiFile(out)
    tempos = [m for m in mf.tracks[0] if m.type == "set_tempo"]
    assert len(tempos) > 10 and any(m.type == "time_signature" for m in mf.tracks[0])
    back = sai.load(out)
    by_id = {int(i): k for k, i in enumerate(chorale.notes["id"])}
    score_beat = chorale.notes["onset_beat"][[by_id[int(i)] for i in r.piece.notes["id"]]]
    off_grid = np.abs(r.piece.notes["onset_beat"] - score_beat)
    assert np.median(off_grid) < 0.05 and off_grid.max() < 0.5  # notes sit on their score beats
    order = np.lexsort((back.notes["pitch"], back.notes["onset_sec"]))
    mine = np.lexsort((r.piece.notes["pitch"], r.piece.notes["onset_sec"]))
    np.testing.assert_allclose(back.notes["onset_sec"][order], r.piece.notes["onset_sec"][mine], atol=0.01)
    assert back.time_signatures == chorale.time_signatures and back.pickup_beats == chorale.pickup_beats

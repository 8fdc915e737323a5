"""Compound-word tokenizer: vocabulary, round trips, windows, the saved config and edge cases."""
from __future__ import annotations

import json

import numpy as np
import pytest

from symbolic_ai import load
from symbolic_ai.errors import InputError
from symbolic_ai.piece import Piece, Tempo, TimeSignature, Track, notes_from_columns
from symbolic_ai.tokens import BOS, CONFIG_PATH, EOS, N_SPECIAL, Tokenizer, TokenizerConfig, default_tokenizer

from conftest import EXAMPLES


def piece(onsets, durs, pitches, vel=None, ts=(4, 4), tempos=(Tempo(0.0, 120.0),), **kw) -> Piece:
    n = notes_from_columns(onset_beat=onsets, duration_beat=durs, pitch=pitches,
                           velocity=vel if vel is not None else [64] * len(pitches), **kw)
    return Piece(notes=n, tempos=tempos, time_signatures=(TimeSignature(0.0, *ts),))


def test_vocabulary_sizes_are_fixed():
    assert Tokenizer().vocab_sizes == {"bar": 13, "position": 100, "pitch": 132, "duration": 54, "velocity": 36}


def test_shipped_config_matches_the_code_default():
    assert CONFIG_PATH.exists(), "symbolic_ai/models/tokens-v1.json must ship with the encoder"
    assert TokenizerConfig.load() == TokenizerConfig()
    assert json.loads(CONFIG_PATH.read_text())["version"] == 1


def test_config_round_trips_and_rejects_other_versions(tmp_path):
    c = TokenizerConfig()
    c.save(tmp_path / "t.json")
    assert TokenizerConfig.load(tmp_path / "t.json") == c
    d = c.to_dict() | {"version": 2}
    with pytest.raises(InputError, match="version 2"):
        TokenizerConfig.from_dict(d)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="bad.json"):
        TokenizerConfig.load(tmp_path / "bad.json")


def test_known_tokens_for_a_tiny_piece():
    # bar 0: C4 quarter at 0, E4 eighth at 1.5; bar 2 (bar 1 empty): G4 triplet-eighth at 0
    p = piece([0.0, 1.5, 8.0], [1.0, 0.5, 1 / 3], [60, 64, 67], vel=[1, 64, 127])
    t = Tokenizer().encode(p)
    assert t[0].tolist() == [BOS] * 5 and t[-1].tolist() == [EOS] * 5
    body = t[1:-1] - N_SPECIAL
    assert body[:, 0].tolist() == [1, 0, 2]            # bar deltas: first note opens a bar
    assert body[:, 1].tolist() == [0, 18, 0]           # position in 12ths of a quarter
    assert body[:, 2].tolist() == [60, 64, 67]
    dur_ticks = np.asarray(TokenizerConfig().duration_ticks)
    assert dur_ticks[body[:, 3]].tolist() == [12, 6, 4]
    assert body[:, 4].tolist() == [0, 15, 31]


@pytest.mark.parametrize("ts", [(4, 4), (3, 4), (6, 8)])
def test_round_trip_is_lossless_on_the_grid(ts):
    rng = np.random.default_rng(1)
    bar_q = ts[0] * 4 / ts[1]
    ticks = np.asarray(TokenizerConfig().duration_ticks[:40])
    n = 60
    onsets = np.sort(rng.integers(0, int(bar_q * 12) * 10, n)) / 12
    p = piece(onsets, rng.choice(ticks, n) / 12, rng.integers(21, 109, n), ts=ts)
    tk = Tokenizer()
    t = tk.encode(p)
    back = tk.decode(t, bar_quarters=bar_q)
    assert np.array_equal(tk.encode(back), t)
    a = np.sort(p.notes[["onset_beat", "pitch"]], order=["onset_beat", "pitch"])
    b = np.sort(back.notes[["onset_beat", "pitch"]], order=["onset_beat", "pitch"])
    first_bar = np.floor(onsets.min() / bar_q) * bar_q  # decoding starts at the first non-empty bar
    assert np.allclose(a["onset_beat"] - first_bar, b["onset_beat"]) and np.array_equal(a["pitch"], b["pitch"])


def test_drums_are_left_out_and_only_drums_is_an_error():
    n = notes_from_columns(onset_beat=[0, 0], duration_beat=[1, 1], pitch=[60, 36], track=[0, 1])
    p = Piece(notes=n, tracks=(Track(0), Track(0, "kit", is_drum=True)))
    assert len(Tokenizer().encode(p)) == 3
    drums = Piece(notes=n[1:], tracks=(Track(0), Track(0, "kit", is_drum=True)))
    with pytest.raises(InputError, match="no pitched notes"):
        Tokenizer().encode(drums)


def test_empty_piece_is_an_input_error():
    with pytest.raises(InputError, match="no pitched notes"):
        Tokenizer().encode(Piece())


def test_performance_without_beats_uses_a_nominal_120_qpm_grid():
    n = notes_from_columns(onset_sec=[0.0, 0.25, 2.0], duration_sec=[0.5, 0.25, 1.0], pitch=[60, 62, 64])
    perf = Piece(notes=n, tempos=(), time_signatures=())
    body = Tokenizer().encode(perf)[1:-1] - N_SPECIAL
    assert body[:, 0].tolist() == [1, 0, 1]        # 2.0 s = beat 4 = the next 4/4 bar
    assert body[:, 1].tolist() == [0, 6, 0]


def test_extreme_values_are_clamped_into_the_vocabulary():
    p = piece([0.0, 7.99, 200.0], [1000.0, 0.001, 1.0], [0, 127, 60], ts=(12, 4))
    t = Tokenizer().encode(p)
    sizes = list(Tokenizer().vocab_sizes.values())
    assert (t >= 0).all() and (t < np.asarray(sizes)).all()
    assert t[3, 0] - N_SPECIAL == TokenizerConfig().max_bar_delta


def test_windows_cover_every_note_once_and_restart_bars():
    tk = default_tokenizer()
    t = tk.encode(load(EXAMPLES / "maple_leaf_rag.mid"))
    wins = tk.windows(t, 64)
    assert all(len(w) <= 64 and w[0, 0] == BOS and w[-1, 0] == EOS for w in wins)
    assert sum(len(w) - 2 for w in wins) == len(t) - 2
    assert all(w[1, 0] == N_SPECIAL + 1 for w in wins)
    assert np.array_equal(np.concatenate([w[1:-1, 1:] for w in wins]), t[1:-1, 1:])
    with pytest.raises(InputError, match="max_len"):
        tk.windows(t, 2)


def test_bar_index_counts_bars_from_the_first_note():
    tk = Tokenizer()
    t = tk.encode(piece([0.0, 4.0, 4.5, 12.0], [1, 1, 1, 1], [60, 62, 64, 65]))
    assert tk.bar_index(t)[1:-1].tolist() == [0, 1, 1, 3]


def test_decode_rejects_a_wrong_shape():
    with pytest.raises(InputError, match="shape"):
        Tokenizer().decode(np.zeros((3, 4), dtype=np.int64))


@pytest.mark.parametrize("name", ["chorale_bwv66_6.musicxml", "maple_leaf_rag.mid", "folk_melody.abc"])
def test_examples_tokenize_in_range(name):
    tk = default_tokenizer()
    t = tk.encode(load(EXAMPLES / name))
    assert t.dtype == np.int64 and t.shape[1] == 5 and len(t) > 20
    assert (t < np.asarray(list(tk.vocab_sizes.values()))).all()

"""Issue-22 case 2: paths checked at submit time and opened later. Swapping an input for a link, or
an output's folder for a link to a folder outside, after the job was accepted changes nothing."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: conftest

from conftest import EXAMPLES  # noqa: E402
from symbolic_ai.bridges import files  # noqa: E402
from symbolic_ai.bridges.config import Config  # noqa: E402
from symbolic_ai.bridges.errors import Forbidden  # noqa: E402

from symbolic_ai import io, registry  # noqa: E402

MELODY = EXAMPLES / "folk_melody.mid"


@pytest.fixture
def dirs(tmp_path):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    return allowed, outside, Config(osc_port=None, http_port=0, allow_dirs=(allowed,))


def test_an_input_swapped_for_a_link_after_submit_is_still_the_file_that_was_checked(dirs):
    allowed, outside, cfg = dirs
    (allowed / "in.mid").write_bytes(MELODY.read_bytes())
    secret = outside / "secret.musicxml"
    secret.write_bytes((EXAMPLES / "chorale_bwv66_6.musicxml").read_bytes())
    os.chmod(secret, 0o600)
    opened = files.input_path(str(allowed / "in.mid"), cfg)  # submit time
    (allowed / "in.mid").unlink()
    (allowed / "in.mid").symlink_to(secret)                 # swapped while the job waits
    piece = opened.load(cfg)                                 # run time
    assert len(piece.notes) == len(io.load(MELODY).notes)
    opened.close()


def test_a_fifo_or_a_link_is_refused_at_submit(dirs):
    allowed, outside, cfg = dirs
    os.mkfifo(allowed / "pipe.mid")
    with pytest.raises(Forbidden, match="not a regular file"):  # without blocking on the FIFO
        files.input_path(str(allowed / "pipe.mid"), cfg)


def test_an_output_folder_swapped_for_a_link_outside_is_refused_at_write_time(dirs):
    allowed, outside, cfg = dirs
    (allowed / "sub").mkdir()
    target = outside / "victim.json"
    target.write_text("keep me")
    os.chmod(target, 0o600)
    out = files.output_path(str(allowed / "sub" / "victim.json"), cfg)  # submit time
    (allowed / "sub").rmdir()
    (allowed / "sub").symlink_to(outside)                                # swapped while the job waits
    result = registry.run("key", io.load(MELODY))
    with pytest.raises(Forbidden, match="outside the allowed"):
        files.save_result(result, out, cfg)
    assert target.read_text() == "keep me" and oct(target.stat().st_mode & 0o777) == oct(0o600)
    assert sorted(p.name for p in outside.iterdir()) == ["victim.json"]


def test_an_output_that_became_a_fifo_is_refused_and_a_regular_one_is_written(dirs):
    allowed, outside, cfg = dirs
    out = files.output_path(str(allowed / "r.json"), cfg)
    os.mkfifo(allowed / "r.json")
    result = registry.run("key", io.load(MELODY))
    with pytest.raises(Forbidden, match="not a regular file"):
        files.save_result(result, out, cfg)
    os.unlink(allowed / "r.json")
    assert files.save_result(result, out, cfg) == out
    assert json.loads(out.read_text())["task"] == "key"
    assert sorted(os.listdir(allowed)) == ["r.json"]

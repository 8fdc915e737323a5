"""The daemon's reference is generated from the registry: every task is in it."""
from __future__ import annotations

from conftest import REPO
from symbolic_ai import registry
from symbolic_ai.bridges.docs import render

DOC = REPO / "docs" / "daemon.md"


def test_generated_reference_covers_every_task_and_parameter():
    text = render()
    for spec in registry.all_tasks():
        route = f"/sai/{spec.name}/file id recording_path" if spec.takes_recording else f"/sai/{spec.name}/notes id"
        assert route in text and f"`POST /sai/{spec.name}`" in text
        for p in spec.params:
            assert f"| `{p.name}` |" in text
    assert "`GET /sai/jobs/{id}/events`" in text and "| `forbidden` |" in text


def test_docs_daemon_md_lists_every_registered_task():
    text = DOC.read_text()
    missing = [s.name for s in registry.all_tasks() if f"`POST /sai/{s.name}`" not in text]
    assert not missing, (f"docs/daemon.md lacks {missing}; regenerate it: "
                         f"python -m symbolic_ai.bridges.docs > docs/daemon.md")

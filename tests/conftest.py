"""Shared fixtures: paths to the tiny test files and the optional dataset root."""
from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parent
REPO = TESTS.parent
DATA = TESTS / "data"
GOLDEN = TESTS / "golden"
EXAMPLES = REPO / "examples"


def dataset_root() -> Path | None:
    from symbolic_ai.data import data_root

    root = data_root()
    return root if root.exists() else None


@pytest.fixture
def data_root() -> Path:
    """The dataset root (../shared/data or $SYMBOLIC_AI_DATA); skips the test when it is absent."""
    root = dataset_root()
    if root is None:
        pytest.skip("datasets not found: put them in ../shared/data or set SYMBOLIC_AI_DATA")
    return root

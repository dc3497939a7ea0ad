"""Fixtures for the local-emulation engine tests: a LocalCloud on the tiny fixture template."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import START, TEMPLATE, LocalCloud


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    with LocalCloud(template=TEMPLATE, start=START, out_dir=tmp_path / "out", quiet=True) as running:
        yield running

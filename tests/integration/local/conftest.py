"""Fixtures of the local-stack integration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def restore_environ() -> Iterator[None]:
    """Undo whatever the stack or invoke wrote into os.environ."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)

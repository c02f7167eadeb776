"""smartnote.startup.container_start: the collector paused for a block, then back as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from smartnote.startup import container_start


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def test_pauses_collection_inside_and_resumes_after() -> None:
    gc.enable()
    with container_start():
        assert not gc.isenabled()
        built = [[] for _ in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built)


def test_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    with container_start():
        pass
    assert not gc.isenabled()


def test_resumes_collection_when_the_import_fails() -> None:
    gc.enable()
    with pytest.raises(ImportError), container_start():
        raise ImportError("a missing package")
    assert gc.isenabled()

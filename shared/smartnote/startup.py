"""A container's start: its imports run with the cyclic garbage collector paused.

Importing a function builds a few hundred thousand objects (modules, classes, Pydantic and
FastAPI schemas) that live as long as the container. While they are built, the collector runs
hundreds of times and walks ever more of them, for nothing: the import makes almost no
garbage. Paused, the import of an API function takes 10-20 % less wall time (bench/README.md,
cold start). At the end they are frozen (`gc.freeze`): moved to the permanent generation, so
that no later collection, during a warm invocation either, walks them again.

The functions' entry modules wrap everything they import in `container_start()`; it imports
nothing but `gc`, so it can come first.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def container_start() -> Iterator[None]:
    """Pause the collector for the block, then freeze what it built and resume collecting
    (unless the collector was off before)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()

"""FastAPI's pydantic.v1 probe, answered without importing pydantic.v1.

For every parameter and response model it analyses, FastAPI (0.119 and later) asks whether
the annotation is a pydantic.v1 model, to refuse it, and imports `pydantic.v1` to answer:
11 ms of import and 2.4 MB of RSS in every API function's cold start (bench/README.md), for a
kind of model this code base never declares. The answer does not need the import: a
pydantic.v1 model can only exist once `pydantic.v1` has been imported, so while it is not in
`sys.modules` the answer is "no", and after that it is FastAPI's own answer. FastAPI's
behaviour is unchanged, only the import is saved.

Applied before any route is declared (`smartnote.routes`). If a FastAPI release drops the probe,
there is nothing to replace; tests/unit/test_function_imports.py fails if some other path
brings the import back.
"""

from __future__ import annotations

import sys
from typing import Any

from fastapi._compat import shared as fastapi_compat_shared


def _pydantic_v1_model() -> type | None:
    v1 = sys.modules.get("pydantic.v1")
    return None if v1 is None else v1.BaseModel


def is_pydantic_v1_model_class(cls: Any) -> bool:
    base = _pydantic_v1_model()
    return base is not None and isinstance(cls, type) and issubclass(cls, base)


def skip_pydantic_v1_import() -> None:
    """Replace FastAPI's class probe with the one above (where this FastAPI has it).
    `annotation_is_pydantic_v1`, which every route declaration calls, looks it up in its
    module on each call. (The instance probe of `jsonable_encoder` is not replaced: it is only
    asked about objects of no known type, which our answers do not hold.)"""
    if hasattr(fastapi_compat_shared, is_pydantic_v1_model_class.__name__):
        fastapi_compat_shared.is_pydantic_v1_model_class = is_pydantic_v1_model_class

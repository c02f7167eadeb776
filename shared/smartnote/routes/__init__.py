"""HTTP <-> domain, thin: one router per resource."""

from smartnote.fastapi_compat import skip_pydantic_v1_import

skip_pydantic_v1_import()  # before any route below is declared

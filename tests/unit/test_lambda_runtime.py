"""lambda_runtime: what every invocation of a wrapped handler sees."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from smartnote.lambda_runtime import MeteredHandler, run_in_container_loop
from smartnote.logs import request_id_var


def test_the_invocations_request_id_is_in_its_logs_then_cleared() -> None:
    """The image function logged request_id null: nothing set it outside the HTTP middleware."""

    async def work() -> str | None:
        await asyncio.sleep(0)
        return request_id_var.get()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"direct": request_id_var.get(), "in_loop": run_in_container_loop(work())}

    metered = MeteredHandler(handler)
    context = SimpleNamespace(aws_request_id="c0ffee-1", function_name="image")
    assert metered({}, context) == {"direct": "c0ffee-1", "in_loop": "c0ffee-1"}
    assert request_id_var.get() is None

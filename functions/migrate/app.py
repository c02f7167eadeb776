"""The migrate function: brings the SQL schema to Alembic head on every deploy.

The template calls it as a custom resource whose properties change with each new version
of this function (and so with each new shared layer, where the migrations live).
"""

from __future__ import annotations

from smartnote.startup import container_start

with container_start():
    from collections.abc import Mapping
    from typing import Any

    from smartnote.config import get_settings
    from smartnote.custom_resource import custom_resource_handler
    from smartnote.db.migrate import upgrade_to_head


def migrate(
    request_type: str, _properties: Mapping[str, Any], budget_seconds: float | None
) -> dict[str, str]:
    if request_type == "Delete":  # the schema outlives the stack; never block its deletion
        return {}
    return {"Revision": upgrade_to_head(get_settings().database_url, wait_seconds=budget_seconds)}


handler = custom_resource_handler(migrate)

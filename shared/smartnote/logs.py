"""Structured JSON logs with the request id as correlation id."""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
            "service": os.environ.get("POWERTOOLS_SERVICE_NAME", "smartnote"),
        }
        counts = getattr(record, "counts", None)  # a job's result: `extra={"counts": {...}}`
        if counts is not None:
            entry["counts"] = counts
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging() -> None:
    """JSON logs on stderr for the `smartnote` loggers (idempotent)."""
    logger = logging.getLogger("smartnote")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    logger.propagate = False

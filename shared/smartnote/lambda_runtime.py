"""Wrap an app for Lambda, keeping its clients across warm invocations.

Mangum 0.22 runs the ASGI lifespan on *every* invocation when it is on (startup and
shutdown around each event; Mangum #361), so nothing long-lived may live in a lifespan:
clients are created on first use per container (`smartnote.db`) and lifespan is off. Mangum
drives each invocation on the thread's event loop, which it creates once, so the loop and
the clients bound to it survive between warm invocations.
"""

from __future__ import annotations

from fastapi import FastAPI
from mangum import Mangum


def lambda_handler(app: FastAPI) -> Mangum:
    """The Lambda entry point for `app` (API Gateway REST and HTTP events)."""
    return Mangum(app, lifespan="off", api_gateway_base_path="/")

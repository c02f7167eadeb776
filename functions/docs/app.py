"""The docs function: Swagger UI, ReDoc and the merged OpenAPI of every function, and /health."""

from smartnote.startup import container_start

with container_start():
    from pathlib import Path

    from smartnote.app import create_app
    from smartnote.lambda_runtime import lambda_handler
    from smartnote.openapi import PREBUILT_NAME, document_source
    from smartnote.routes import health
    from smartnote.routes.docs import build_docs_router

    openapi = document_source(Path(__file__).with_name(PREBUILT_NAME))  # written by the build
    app = create_app(build_docs_router(openapi), health.router)
    handler = lambda_handler(app)

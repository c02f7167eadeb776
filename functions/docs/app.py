"""The docs function: Swagger UI, ReDoc and the merged OpenAPI of every function, and /health."""

from smartnote.app import create_app
from smartnote.lambda_runtime import lambda_handler
from smartnote.openapi import merged_openapi
from smartnote.routes import health
from smartnote.routes.docs import build_docs_router

app = create_app(build_docs_router(merged_openapi), health.router)
handler = lambda_handler(app)

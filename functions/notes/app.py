"""The notes function: SmartNote's /notes and /tags routes behind API Gateway."""

from smartnote.startup import container_start

with container_start():
    from smartnote.app import create_app
    from smartnote.lambda_runtime import lambda_handler
    from smartnote.routes import notes

    app = create_app(notes.router)
    handler = lambda_handler(app)

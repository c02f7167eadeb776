"""The auth function: SmartNote's /auth routes behind API Gateway."""

from smartnote.startup import container_start

with container_start():
    from smartnote.app import create_app
    from smartnote.lambda_runtime import lambda_handler
    from smartnote.routes import auth

    app = create_app(auth.router)
    handler = lambda_handler(app)

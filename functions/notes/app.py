"""The notes function: SmartNote's /notes and /tags routes behind API Gateway."""

from smartnote.startup import container_start

with container_start():
    from smartnote.app import create_app
    from smartnote.lambda_runtime import lambda_handler
    from smartnote.models.notes import MAX_NOTE_BODY_BYTES
    from smartnote.routes import notes

    # The longest note, every character JSON-escaped, is a note, not a 413.
    app = create_app(notes.router, max_body_bytes=MAX_NOTE_BODY_BYTES)
    handler = lambda_handler(app)

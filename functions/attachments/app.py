"""The attachments function: image uploads, their results, edits and deletion."""

from smartnote.startup import container_start

with container_start():
    from smartnote.app import create_app
    from smartnote.lambda_runtime import lambda_handler
    from smartnote.models.attachments import MAX_MULTIPART_BYTES, MULTIPART_ENVELOPE_BYTES
    from smartnote.routes import attachments

    # Room for the multipart envelope around the largest file.
    app = create_app(
        attachments.router, max_body_bytes=MAX_MULTIPART_BYTES + MULTIPART_ENVELOPE_BYTES
    )
    handler = lambda_handler(app)

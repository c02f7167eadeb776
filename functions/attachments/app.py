"""The attachments function: image uploads, their results, edits and deletion."""

from smartnote.app import create_app
from smartnote.lambda_runtime import lambda_handler
from smartnote.models.attachments import MAX_MULTIPART_BYTES
from smartnote.routes import attachments

# Room for the multipart envelope around a 5 MB file.
app = create_app(attachments.router, max_body_bytes=MAX_MULTIPART_BYTES + 64 * 1024)
handler = lambda_handler(app)

"""The image function: S3 ObjectCreated events under uploads/ -> thumbnails, copies, OCR, edits."""

from smartnote.startup import container_start

with container_start():  # OpenCV and NumPy too
    from typing import Any

    from smartnote import aws
    from smartnote.config import get_settings
    from smartnote.invocation import Invocation
    from smartnote.jobs.images import ImageJob, S3Object, created_objects
    from smartnote.lambda_runtime import MeteredHandler, run_in_container_loop
    from smartnote.logs import configure_logging
    from smartnote.repositories import notes

    configure_logging()


async def _handle(objects: list[S3Object], invocation: Invocation) -> list[dict[str, Any]]:
    settings = get_settings()
    job = ImageJob(
        await notes.notes_repository(settings),
        # Bounded calls: an S3 that does not answer fails the run (its claim given back, then
        # Lambda's retry) well within the function's Timeout, instead of Lambda killing it.
        aws.client("s3", settings, aws.S3_CALLS),
        settings.ocr_languages,
    )
    return await job.handle(objects, invocation)


def _invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
    objects = created_objects(event)  # an event of another kind fails here, before any work
    if not objects:  # S3's test event: nothing to do, no database to reach
        return {"results": []}
    return {"results": run_in_container_loop(_handle(objects, Invocation.of(context)))}


handler = MeteredHandler(_invoke)

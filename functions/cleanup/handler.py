"""The cleanup function: once a day, purge old trash, abandoned uploads and ended sessions."""

from smartnote.startup import container_start

with container_start():
    from smartnote.jobs import cleanup
    from smartnote.lambda_runtime import ScheduledHandler

    handler = ScheduledHandler(cleanup.run)

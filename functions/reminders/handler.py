"""The reminders function: on each EventBridge schedule, email the reminders that are due."""

from smartnote.startup import container_start

with container_start():
    from smartnote.jobs import reminders
    from smartnote.lambda_runtime import ScheduledHandler

    handler = ScheduledHandler(reminders.run)

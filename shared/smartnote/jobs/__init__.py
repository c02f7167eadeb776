"""Work that runs outside a request: S3-triggered image processing, schedules."""

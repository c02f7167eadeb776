"""Work that runs outside a request: S3-triggered image processing and the schedules;
each job takes its clock and services as arguments."""

"""A Docker-free local stack: SAM template, API Gateway emulation and embedded services."""

"""Deployment checks of the SAM stack (`make deploy-check`); not part of any function."""

"""SmartNote's shared package: every Lambda function is built from it."""

__version__ = "0.1.0"

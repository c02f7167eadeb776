"""Pydantic models at the edges: what clients send and receive."""

"""What the product does, as plain functions on plain data (no HTTP, no database)."""

"""Database access: MongoDB for notes, SQL for users and sessions."""

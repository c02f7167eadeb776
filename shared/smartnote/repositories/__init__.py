"""One repository per collection or table: the only code that speaks to a database."""

"""Command-line tools: ``astgrad show FILE.py:FUNC`` prints a function's generated gradient."""

"""`acflow mcp`: the mirror and the flows for AI assistants, over the Model Context Protocol.

Read-only by construction: SQL is checked by DuckDB's own parser before it runs (sqlguard.py),
then runs on a read-only connection with external access, extensions and settings locked
(reader.py). The SDK (`mcp`, the `acflow[mcp]` extra) is imported only by server.py, when the
command runs; this package's name does not shadow it (imports inside are absolute).
"""

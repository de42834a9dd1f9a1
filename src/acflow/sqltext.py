"""SQL text that needs no engine: here, so that what only names things loads no DuckDB."""


def quote(name: str) -> str:
    """An identifier as SQL: any name the API sends (`firstName`, `group`, a quote in it) is safe."""
    return '"' + name.replace('"', '""') + '"'

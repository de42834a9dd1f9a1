"""A listening socket for acflow's HTTP servers (serve, ui, mcp --http), made before uvicorn starts.

Made here, not by uvicorn, so that port 0 becomes a real port the command can print, a taken port
is one ConfigError line, and the socket already listens when the address is printed: a client that
connects at once (a test, a script) waits in the backlog instead of being refused.
"""

from __future__ import annotations

import socket

from .errors import ConfigError


def listening(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port or --host"
                          ) from None
    sock.set_inheritable(True)
    return sock


def address(sock: socket.socket) -> str:
    """http://HOST:PORT of a listening socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"

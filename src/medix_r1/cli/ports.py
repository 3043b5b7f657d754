"""Say plainly when a port is taken, before a server (and its model) starts (issue 17).

>>> import socket
>>> with socket.socket() as busy:
...     busy.bind(("127.0.0.1", 0)); busy.listen(); port = busy.getsockname()[1]
...     port_problem("127.0.0.1", port) is not None
True
"""

from __future__ import annotations

import socket

__all__ = ["port_problem"]


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (in use, no such interface...), or ``None`` when it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # as servers bind: only another listener clashes, not connections waiting to close
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --port)"
    return None

"""The daemon's open-file limit, raised at start to what the system allows.

Every WebSocket client, REST connection and upstream socket is a file descriptor, and many
systems start a process with a soft limit of 1,024 under a far higher hard one; the daemon
raises its own soft limit to the hard one, and past that only the operator can help.
"""

from __future__ import annotations

import sys

# Beyond WebSocket clients and REST connections: upstream sockets, the listeners, logs.
OTHER_DESCRIPTORS = 200


def raise_open_files_limit() -> tuple[int, int] | None:
    """Soft limit up to the hard one: (before, after); None where there is no such limit."""
    if sys.platform == "win32":
        return None
    import resource  # noqa: PLC0415 (Windows has no such module)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard in (resource.RLIM_INFINITY, soft):  # infinity: macOS, where the kernel caps it anyway
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft, soft
    return soft, hard

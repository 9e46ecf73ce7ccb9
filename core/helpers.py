"""Helper processes: ``python -m <module> FD`` on one end of a socket pair.

A crawl parses its pages on one (``scrapers.offload``) and a training run draws its plots
on another (``training.plotter``). The two ends exchange frames: a pickle behind its
length (8 bytes, big-endian). A helper answers each request in order, with its result or
the exception it raised. It is started with ``-m``, never by ``multiprocessing``'s spawn,
which would run the caller's own ``__main__`` script again in the helper. A helper ends
when its socket closes, which includes its parent dying.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import BinaryIO

LENGTH = struct.Struct(">Q")


def frame(value: object) -> bytes:
    """``value`` as one frame."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return LENGTH.pack(len(data)) + data


def read_frame(stream: BinaryIO) -> object | None:
    """The next frame's value from a blocking stream; None at its end."""
    header = stream.read(LENGTH.size)
    if len(header) < LENGTH.size:
        return None
    (length,) = LENGTH.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        return None
    return pickle.loads(data)


async def read_frame_async(reader: asyncio.StreamReader) -> object | None:
    """The next frame's value from an asyncio stream; None at its end."""
    try:
        header = await reader.readexactly(LENGTH.size)
        data = await reader.readexactly(LENGTH.unpack(header)[0])
    except asyncio.IncompleteReadError:
        return None
    return pickle.loads(data)


def start(module: str) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """Start ``python -m module`` as a helper; its process and this end of its socket."""
    ours, theirs = socket.socketpair()
    process = subprocess.Popen(
        [sys.executable, "-m", module, str(theirs.fileno())], pass_fds=(theirs.fileno(),)
    )
    theirs.close()
    return process, ours


def end(process: subprocess.Popen[bytes], connection: socket.socket, timeout: float = 5.0) -> None:
    """Shut the helper's socket (it exits at the end of its requests) and wait for it to
    exit; kill it after ``timeout`` seconds. The caller still closes its end."""
    with contextlib.suppress(OSError):  # already closed by the other side
        connection.shutdown(socket.SHUT_RDWR)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve(
    handle: Callable[[object], object], setup: Callable[[object], None] | None = None
) -> None:
    """The helper's side: ``setup`` the first frame (no answer) when given, then answer
    every request with ``handle(request)`` until the socket closes, and exit at once (a
    helper holds nothing to tear down)."""
    connection = socket.socket(fileno=int(sys.argv[1]))
    with connection.makefile("rb") as requests, connection.makefile("wb") as answers:
        if setup is not None:
            setup(read_frame(requests))  # type: ignore[arg-type]
        while (request := read_frame(requests)) is not None:  # type: ignore[arg-type]
            try:
                data = frame(handle(request))
            except Exception as error:  # the caller raises it for its request
                data = frame(_picklable(error))
            answers.write(data)
            answers.flush()
    os._exit(0)


def _picklable(error: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error

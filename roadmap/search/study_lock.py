"""One search per study at a time: an exclusive ``flock`` on ``<study>/search.lock``, the line
that names its holder, and the refusal a second search gets."""

from __future__ import annotations

import datetime
import fcntl
import os
import socket
import time
from pathlib import Path
from typing import Any

from roadmap.errors import RoadmapError

__all__ = ["LOCK_FILE", "StudyLock", "lock_holder", "is_locked", "check_unlocked"]

LOCK_FILE = "search.lock"


class StudyLock:
    """An exclusive ``flock`` on ``<study>/search.lock``: one search per study at a time.

    The lock belongs to the process and the OS frees it when the process ends, SIGKILL
    included, so a stale lock cannot exist: a left-over ``search.lock`` file is only text. The
    holder writes ``pid host time`` into it, so that a second search can name it::

        study DIR is being searched by another process (pid 4242 on box, since 2025-01-01T10:00:00)
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._fd: int | None = None

    def __enter__(self) -> StudyLock:
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RoadmapError(busy_message(self.directory)) from None
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {stamp}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            # Emptied, never deleted: a process that opened the file just before could
            # otherwise lock a deleted inode while a third locks a new file.
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock_holder(directory: Path) -> str | None:
    """``pid N on HOST, since TIME`` of the search that holds the study's lock (``None``
    when the file does not say: the holder may not have written it yet)."""
    try:
        text = (Path(directory) / LOCK_FILE).read_text(errors="replace").split()
    except OSError:
        return None
    if len(text) != 3 or not text[0].isdigit():
        return None
    return f"pid {text[0]} on {text[1]}, since {text[2]}"


def busy_message(directory: Path) -> str:
    """The refusal of a second search: names the one that runs (waits up to a second for it
    to write its line: it takes the lock first, then writes)."""
    holder = None
    for _ in range(20):
        holder = lock_holder(directory)
        if holder is not None or not is_locked(directory):
            break
        time.sleep(0.05)
    who = f" ({holder})" if holder else ""
    return f"study {directory} is being searched by another process{who}"


def is_locked(directory: Path) -> bool:
    """Whether another process holds :class:`StudyLock` on ``directory``."""
    try:
        fd = os.open(Path(directory) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False  # no lock file: no search ever ran here
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return False


def check_unlocked(directory: Path) -> None:
    """Raise the one-line refusal (naming the running search) when ``directory`` is locked."""
    if Path(directory).is_dir() and is_locked(directory):
        raise RoadmapError(busy_message(directory))

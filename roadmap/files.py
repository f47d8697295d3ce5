"""The one way the tool writes a file: checked before any work, written whole or not at all,
and every failure of the operating system one line naming the path and the reason.

Every file ``roadmap`` writes (an exported spec, a report, weights and checkpoints, a study's
settings and trial files) goes through :func:`write_bytes` (:func:`write_text`,
:func:`write_json`, :func:`save_torch`): the data goes to a temporary file beside the target,
which then replaces it (``os.replace``), so a reader never sees half a file and a failed write
leaves the old file, or nothing, behind. A command checks where it will write before it
starts (:func:`check_writable`, :func:`check_folder`), so that a read-only folder, a path
under a regular file or a missing permission is refused before minutes of work::

    --out /data/ro/winner.yaml: cannot write there (read-only file system)
    --study run/file/sub: cannot write there (run/file is a file, not a folder)
    study file runs/x/trials/3/metrics.json: cannot write (no space left on the device)

:func:`os_fault` recognises the other shapes an operating-system failure takes on its way up
(torch's ``RuntimeError`` from ``torch.save``, SQLite's "database or disk is full"), which
the command line turns into the same one line (`roadmap.cli.main`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
from pathlib import Path
from typing import Any

from roadmap.errors import RoadmapError

__all__ = [
    "WriteError",
    "reason",
    "os_fault",
    "fault_line",
    "check_writable",
    "check_folder",
    "write_bytes",
    "write_text",
    "write_json",
    "save_torch",
]


class WriteError(RoadmapError):
    """A file that cannot be written: the path and the operating system's reason, one line."""


# The reasons a user can act on, in words; any other errno keeps the system's own text.
_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.EIO: "input/output error (a failing disk?)",
    errno.ENOENT: "no such file or folder",
}

# How a write failure reads once torch (``torch.save``'s zip writer) or SQLite has wrapped it.
_FAULT_TEXTS = {
    "file write failed": "the write failed (no space left on the device?)",
    "database or disk is full": "no space left on the device",
    "attempt to write a readonly database": "read-only (permission denied or a read-only file system)",
    "unable to open database file": "cannot open the file (permission denied, or a missing folder)",
    "disk i/o error": "input/output error (no space left, or a failing disk?)",
}


def reason(exc: OSError) -> str:
    """The reason of an ``OSError`` in words (``no space left on the device``)."""
    return _REASONS.get(exc.errno or -1) or (exc.strerror or type(exc).__name__).lower()


def os_fault(exc: BaseException) -> str | None:
    """The reason in words when ``exc`` is a failure of the operating system -- an
    ``OSError``, or one that torch or SQLite wrapped in their own exception -- else None."""
    if isinstance(exc, OSError):
        return reason(exc)
    text = str(exc).lower()
    return next((words for needle, words in _FAULT_TEXTS.items() if needle in text), None)


def fault_line(exc: BaseException) -> str | None:
    """``path: reason`` (the reason alone when the exception names no path) of an
    operating-system failure (:func:`os_fault`), else None: what the command line prints."""
    words = os_fault(exc)
    if words is None:
        return None
    names = [str(n) for n in (getattr(exc, "filename", None), getattr(exc, "filename2", None)) if n]
    return f"{' -> '.join(names)}: {words}" if names else words


# --------------------------------------------------------------------------- checks before work


def _existing_ancestor(path: Path) -> Path:
    """The nearest part of ``path`` (itself included) that exists."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe(folder: Path, label: str, shown: Path) -> None:
    """Create and remove a file in ``folder`` -- the one test of writing that holds for root,
    read-only mounts, ACLs and full inode tables alike (``os.access`` does not) -- and refuse a
    device without a free block (a full disk takes an empty file, not its content)."""
    probe = folder / f".roadmap-probe-{os.getpid()}"
    try:
        os.close(_create(probe, os.O_EXCL))
        os.unlink(probe)
        if _free_bytes(folder) == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except FileExistsError:
        pass  # a probe of this process is there already: the folder takes files
    except OSError as exc:
        raise WriteError(f"{label} {shown}: cannot write there ({reason(exc)})") from None


def _free_bytes(folder: Path) -> int:
    """Bytes an unprivileged user may still write on ``folder``'s device."""
    info = os.statvfs(folder)
    return info.f_bavail * info.f_frsize


def _create(path: Path, flags: int = os.O_TRUNC) -> int:
    """``os.open`` of a new file for writing; every file roadmap writes is created here (the one
    place a test injects a fault of the operating system)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o666)


def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` to the open file ``fd`` and close it (a full disk fails here)."""
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def check_folder(directory: str | Path, label: str, *, shown: str | Path | None = None) -> Path:
    """Refuse, before any work, a folder that cannot be created or written (``label`` names
    the option, e.g. ``--study``; ``shown``: the path the message names, default
    ``directory``). Nothing is left behind: a missing folder is not created."""
    directory = Path(directory)
    shown = Path(shown) if shown is not None else directory
    if directory.exists() and not directory.is_dir():
        raise WriteError(f"{label} {shown}: cannot write there ({_shown(directory, shown)} is a file, not a folder)")
    base = _existing_ancestor(directory)
    if not base.is_dir():
        raise WriteError(f"{label} {shown}: cannot write there ({_shown(base, shown)} is a file, not a folder)")
    _probe(base, label, shown)
    return directory


def check_writable(path: str | Path, label: str) -> Path:
    """Refuse, before any work, a file ``path`` that cannot be written (a folder, a path under
    a regular file, a read-only or forbidden folder); ``label`` names the option (``--out``)."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(f"{label} {path}: is a folder; give a file name")
    check_folder(path.parent, label, shown=path)
    return path


def _shown(part: Path, wanted: Path) -> str:
    """``part`` as the user would write it: relative to the working folder when ``wanted`` is."""
    return str(Path(os.path.abspath(part))) if wanted.is_absolute() else os.path.relpath(part)


# --------------------------------------------------------------------------- writing


def write_bytes(path: str | Path, data: bytes, label: str = "file") -> Path:
    """Write ``data`` to ``path`` whole or not at all (parent folders are created); a failure
    is a `WriteError` ``<label> <path>: cannot write (<reason>)``, the temporary file removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: trials may share a folder
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_all(_create(tmp), data)
        os.replace(tmp, path)
    except OSError as exc:
        # OSError: the folder itself is unreachable: nothing was left there either
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise WriteError(f"{label} {path}: cannot write ({reason(exc)})") from None
    return path


def write_text(path: str | Path, text: str, label: str = "file") -> Path:
    """:func:`write_bytes` of UTF-8 ``text``."""
    return write_bytes(path, text.encode("utf-8"), label)


def write_json(path: str | Path, data: Any, label: str = "file") -> Path:
    """:func:`write_text` of ``data`` as indented JSON (objects with ``to_dict`` / ``item``,
    tuples and sets become plain JSON)."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n", label)


def save_torch(obj: Any, path: str | Path, label: str = "file") -> Path:
    """``torch.save(obj)`` through :func:`write_bytes`: serialised in memory first, so that a
    full disk is one `WriteError`, not torch's ``RuntimeError [enforce fail ...]``."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_bytes(path, buffer.getvalue(), label)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return str(obj)

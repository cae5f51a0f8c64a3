"""Lock files: which running process writes an output; the lock of a process that is gone does not block.

A lock file holds JSON ``{host, pid, started, since}`` (``started``: the process's start time
in clock ticks after boot, from ``/proc``, so a reused pid is not taken for the owner). It is
written in a hidden temporary folder (``ppgan.utils.fileio.temporary_dir``) and hard-linked
into place, so it appears complete or not at all and only one of two processes creating it
at once succeeds. Its owner is running when, on this machine, that process still exists or,
on another machine sharing the folder, when the lock was refreshed in the last
``STALE_SECONDS`` (a holder touches its lock every ``REFRESH_SECONDS`` from a thread). A lock
whose owner is not running is taken over; the holder removes its lock when it is done,
however it ends short of SIGKILL.
"""
import contextlib
import json
import os
import shutil
import socket
import threading
import time

from .fileio import make_dirs, process_alive, remove_dirs, temporary_dir

REFRESH_SECONDS = 60
STALE_SECONDS = 600  # a lock of another machine untouched this long belongs to a run that stopped
_TAKEOVER_ATTEMPTS = 5


def _start_ticks(pid):
    """Start time of process ``pid`` in clock ticks after boot; None when it does not exist or /proc is absent."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def lock_owner(path):
    """The owner recorded in lock file ``path`` (a dict: host, pid, started, since); None if there is none."""
    try:
        with open(path) as f:
            owner = json.load(f)
        return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def owner_running(path, owner):
    """Whether the process that wrote lock ``path`` (``owner``, of ``lock_owner``) is still running."""
    if not owner:
        return False
    if owner.get("host") != socket.gethostname():
        try:
            return time.time() - os.stat(path).st_mtime < STALE_SECONDS
        except OSError:
            return False
    if owner["pid"] == os.getpid() or not process_alive(owner["pid"]):
        return False
    started = _start_ticks(owner["pid"])
    return started is None or owner.get("started") is None or started == owner["started"]


def _create(path, content):
    """Hard-link a complete lock file with ``content`` to ``path``; False if ``path`` exists."""
    folder = temporary_dir(os.path.dirname(path), os.path.basename(path))
    try:
        staged = os.path.join(folder, "lock")
        with open(staged, "w") as f:
            f.write(content)
        try:
            os.link(staged, path)
        except FileExistsError:
            return False
        return True
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _remove_if_unchanged(path, owner):
    """Remove lock ``path`` if it still holds ``owner`` (another process may have taken it over meanwhile)."""
    if lock_owner(path) == owner:
        with contextlib.suppress(OSError):
            os.remove(path)


def _refresh(path, stop):
    while not stop.wait(REFRESH_SECONDS):
        with contextlib.suppress(OSError):
            os.utime(path)


@contextlib.contextmanager
def hold_lock(path, refused):
    """Hold lock file ``path`` for the block; ``refused(owner)`` (an exception) is raised if a running process holds it.

    The lock is removed when the block ends, also on an exception or Ctrl-C (and SIGTERM, with
    ``ppgan.utils.signals``), and so is its folder if it was created for it and is empty; a
    process killed outright leaves the lock behind, and the next holder takes it over.
    """
    created = make_dirs(os.path.dirname(os.path.abspath(path)))
    try:
        with _held(path, refused):
            yield
    finally:
        remove_dirs(created)


@contextlib.contextmanager
def _held(path, refused):
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": _start_ticks(os.getpid()),
             "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(_TAKEOVER_ATTEMPTS):
        if _create(path, json.dumps(owner)):
            break
        found = lock_owner(path)
        if found is not None and owner_running(path, found):
            raise refused(found)
        if found is not None:
            _remove_if_unchanged(path, found)
    else:
        raise refused(lock_owner(path) or {})
    stop = threading.Event()
    refresher = threading.Thread(target=_refresh, args=(path, stop), name="ppgan-lock", daemon=True)
    refresher.start()
    try:
        yield
    finally:
        stop.set()
        _remove_if_unchanged(path, owner)

"""Outputs that are complete or absent: atomic files, all-or-nothing sets of files, early output checks.

Temporary files and folders are hidden siblings of their target named
``.{base}.{host}-{pid}-{random}.tmp{ext}`` (``host``: 8 hex digits of the machine's
name). A process killed while writing leaves one behind; the next write into that
folder removes it once its process is gone (same machine) or a day old (another
machine sharing the folder). Folders are created only when a file is written into
them, and removed again if that write fails.
"""
import contextlib
import errno
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time

from .errors import UserError

STALE_SECONDS = 24 * 3600  # age after which a temporary of another machine (or of an older version) is stale
_HOST = hashlib.md5(socket.gethostname().encode()).hexdigest()[:8]
_TEMPORARY = re.compile(r"^\..+\.(?:(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-)?[a-z0-9_]{8}\.tmp(?:\.[^.]*)?$")
_SPACE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_cleaned = set()


def write_error(path, exc, arg=None):
    """UserError for an OSError while writing ``path``: the reason and what to do."""
    where = f"pass another {arg}" if arg else "choose another output location"
    if exc.errno in _SPACE_ERRORS:
        fix = f"free some space or {where}"
    elif exc.errno == errno.EISDIR:
        fix = f"remove or rename that folder, or {where}"
    else:
        fix = where
    return UserError(f"cannot write {path}: {exc.strerror or exc}; {fix} (nothing was written)")


def process_alive(pid):
    """Whether a process ``pid`` runs on this machine (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_stale(directory, name):
    match = _TEMPORARY.match(name)
    if not match:
        return False
    if match["host"] == _HOST:
        return int(match["pid"]) != os.getpid() and not process_alive(int(match["pid"]))
    try:
        return time.time() - os.lstat(os.path.join(directory, name)).st_mtime > STALE_SECONDS
    except OSError:
        return False


def remove_stale_temporaries(directory):
    """Remove temporaries of our naming pattern in ``directory`` left by killed processes (once per process)."""
    directory = os.path.abspath(directory)
    if directory in _cleaned:
        return
    _cleaned.add(directory)
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if _is_stale(directory, name):
            path = os.path.join(directory, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.remove(path)


def _temporary_prefix(base):
    return f".{base}.{_HOST}-{os.getpid()}-"


def make_dirs(directory):
    """``os.makedirs(directory, exist_ok=True)``; returns the folders it created, outermost first."""
    created = []
    directory = os.path.abspath(directory)
    while not os.path.isdir(directory):
        created.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    created.reverse()
    for folder in created:
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder)
    return created


def remove_dirs(created):
    """Remove folders ``make_dirs`` created, innermost first, where they are still empty."""
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def temporary_dir(parent, base):
    """Create and return a hidden temporary folder in ``parent`` (which must exist), named after ``base``."""
    remove_stale_temporaries(parent)
    return tempfile.mkdtemp(prefix=_temporary_prefix(base), suffix=".tmp", dir=parent)


@contextlib.contextmanager
def atomic_path(path, arg=None):
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name keeps the extension (writers such as ``cv2.imwrite`` and
    ``np.save`` look at it). On any exception the temporary file is removed,
    ``path`` is left as it was, and folders created for it are removed; an
    OSError of the writing (full disk, no permission) becomes a one-line UserError.
    """
    directory = os.path.dirname(os.path.abspath(path))
    created = []
    tmp = None
    try:
        try:
            created = make_dirs(directory)
            remove_stale_temporaries(directory)
            base, ext = os.path.splitext(os.path.basename(path))
            fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(base), suffix=f".tmp{ext}", dir=directory)
            os.close(fd)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        except OSError as exc:
            raise write_error(path, exc, arg) from exc
        try:
            yield tmp
            os.replace(tmp, path)
        except OSError as exc:
            if exc.errno is None:
                raise
            raise write_error(path, exc, arg) from exc
    except BaseException:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
        remove_dirs(created)
        raise
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


class StagedFiles:
    """Files written into a hidden folder inside ``root``, moved into place together by ``atomic_files``."""

    def __init__(self, root, staging):
        self.root, self.staging = root, staging

    def path(self, target):
        """Temporary path for ``target`` (a path inside ``root``); its folders are created in the staging area."""
        relative = os.path.relpath(os.path.abspath(target), self.root)
        if relative.startswith(os.pardir):
            raise ValueError(f"{target} is outside {self.root}")
        tmp = os.path.join(self.staging, relative)
        os.makedirs(os.path.dirname(tmp), exist_ok=True)
        return tmp

    def staged(self):
        """Relative paths of every staged file, sorted."""
        return sorted(os.path.relpath(os.path.join(folder, name), self.staging)
                      for folder, _, names in os.walk(self.staging) for name in names)


def _commit(root, staging, backup):
    """Move every staged file into place; on failure put back the previous files and remove new folders."""
    moved, created = [], []
    try:
        for relative in StagedFiles(root, staging).staged():
            target = os.path.join(root, relative)
            created += make_dirs(os.path.dirname(target))
            remove_stale_temporaries(os.path.dirname(target))
            previous = None
            if os.path.lexists(target):
                previous = os.path.join(backup, relative)
                os.makedirs(os.path.dirname(previous), exist_ok=True)
                os.replace(target, previous)
            moved.append((target, previous))
            os.replace(os.path.join(staging, relative), target)
    except BaseException:
        for target, previous in reversed(moved):
            with contextlib.suppress(OSError):
                if previous is not None:
                    os.replace(previous, target)
                elif os.path.lexists(target):
                    os.remove(target)
        remove_dirs(created)
        raise


@contextlib.contextmanager
def atomic_files(root, arg=None):
    """Yield a ``StagedFiles``: files written through ``staged.path(target)`` appear together or not at all.

    They are written in a hidden temporary folder inside ``root`` and moved into
    place when the block succeeds; if the block or a move fails, the targets are
    left as they were (previous files put back), the temporary folder is removed,
    and so is ``root`` when it was created for this. Disk errors become a UserError.
    """
    root = os.path.abspath(root)
    created = []
    staging = None
    try:
        try:
            created = make_dirs(root)
            staging = temporary_dir(root, "staging")
        except OSError as exc:
            raise write_error(root, exc, arg) from exc
        try:
            yield StagedFiles(root, staging)
            backup = os.path.join(staging, ".previous")
            _commit(root, staging, backup)
        except OSError as exc:
            if exc.errno is None:
                raise
            where = os.fspath(exc.filename) if isinstance(exc.filename, (str, bytes, os.PathLike)) else root
            if where.startswith(staging + os.sep):
                where = os.path.join(root, os.path.relpath(where, staging))
            raise write_error(where, exc, arg) from exc
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
            staging = None
        remove_dirs(created)
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def check_output_files(paths, arg="{output_path}"):
    """Raise UserError, before any work, if an output file cannot be created: it is a folder, or a parent is a file."""
    for path in paths:
        if os.path.isdir(path):
            raise UserError(f"output {path} exists as a folder; remove or rename that folder, or pass another {arg}")
        parent = os.path.dirname(os.path.abspath(path))
        while not os.path.lexists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            raise UserError(f"cannot write {path}: {parent} is a file, not a folder; pass another {arg}")


def check_writable_dir(directory, arg="{output_path}"):
    """Fail early, with a UserError, if ``directory`` cannot take files. Creates nothing.

    The folder itself is created when the first file is written into it (``atomic_path``,
    ``atomic_files``), so a run failing before that leaves no empty folder behind.
    """
    directory = os.path.abspath(directory)
    existing = directory
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if os.path.islink(existing) and not os.path.exists(existing):
        where = "" if existing == directory else f" (inside {existing})"
        raise UserError(f"output folder {directory}{where} is a broken symbolic link to {os.readlink(existing)}; "
                        f"create its target or pass another {arg}")
    if not os.path.isdir(existing):
        what = "is a file" if existing == directory else f"is inside {existing}, a file"
        raise UserError(f"output folder {directory} {what}, not a folder; pass another {arg}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"output folder {existing} is not writable; pass a writable {arg}")

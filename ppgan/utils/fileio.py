"""Atomic file writes: an output is either complete or absent, never half written."""
import contextlib
import os
import tempfile

from .errors import UserError


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name keeps the extension (writers such as ``cv2.imwrite`` and
    ``np.save`` look at it). On any exception the temporary file is removed and
    ``path`` is left as it was.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        base, ext = os.path.splitext(os.path.basename(path))
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}", dir=directory)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}; choose a writable output location") from exc
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def check_writable_dir(directory, flag="--output_path"):
    """Create ``directory`` if needed and fail early, with a UserError, if it cannot take files."""
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise UserError(f"output directory {directory} is not writable ({exc.strerror}); pass a writable {flag}") from exc

"""Released weights: turn a release (a ``Weight``: file name, md5, URL) into a verified local file, once.

This module knows no model: what a release is comes from the registry (``ppgan.models.zoo``,
read from ``configs/``), which hands the ``Weight`` over; this module only fetches. Files
are cached in ``$PPGAN_HOME`` (default ``~/.cache/ppgan``). They come from their
release URL, or from ``$PPGAN_MODEL_BASE_URL`` + file name when that is set (a
mirror; ``file://`` URLs work too).

Most releases publish no md5, so beside each downloaded file ``<file>.size`` records how
many bytes arrived; a cached file of another size (cut short on a full disk, by a copy, by
a crash of the file system) is fetched again. A cached file that still fails to read is
deleted by its reader (``discard_damaged_download``), so the next run fetches it anew.
"""
import collections
import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request

from tqdm import tqdm

from .errors import UserError
from .fileio import atomic_path

Weight = collections.namedtuple("Weight", "file md5 url")
Weight.__doc__ = "A released file: its name, its md5 (None when unknown) and its URL."

RETRIES = 2
BACKOFF = 1.0
TIMEOUT = 30
CHUNK = 1 << 20
SIZE_SUFFIX = ".size"

_verified = set()


class _AttemptFailed(Exception):
    """One download attempt failed; ``retry`` says whether another attempt may help."""

    def __init__(self, reason, retry=True):
        super().__init__(str(reason) or type(reason).__name__)
        self.retry = retry


def cache_dir():
    """The weight cache: ``$PPGAN_HOME`` or ``~/.cache/ppgan``."""
    return os.path.expanduser(os.environ.get("PPGAN_HOME") or "~/.cache/ppgan")


def weight_url(weight):
    """Where ``weight`` is downloaded from: the mirror when ``$PPGAN_MODEL_BASE_URL`` is set."""
    base = os.environ.get("PPGAN_MODEL_BASE_URL")
    if base:
        return base.rstrip("/") + "/" + weight.file
    return weight.url


def resolve_weights(weight=None, weight_path=None, arg="{weight_path}"):
    """Return a local weight file: ``weight_path`` if given, else the cached or downloaded ``weight`` (a ``Weight``).

    ``arg`` names the input that sets ``weight_path`` in error messages (e.g. ``"{weight_path}"``).
    """
    if weight_path is not None:
        path = os.path.expanduser(weight_path)
        if not os.path.isfile(path):
            raise UserError(f"{arg} {weight_path} is not an existing file; pass the path of a weight file")
        return path
    path = os.path.join(cache_dir(), weight.file)
    if not (os.path.isfile(path) and _cache_ok(path, weight.md5)):
        _download(weight, path, arg)
    return path


def _file_md5(path):
    md5 = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            md5.update(chunk)
    return md5.hexdigest()


def _recorded_size(path):
    """The byte count recorded when ``path`` was downloaded, or None (no record, or an unreadable one)."""
    try:
        with open(path + SIZE_SUFFIX) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _cache_ok(path, md5):
    """Check a cached file once per process, by its md5 or else by its recorded size; remove it if it is wrong."""
    if path in _verified:
        return True
    if md5 is not None:
        if _file_md5(path) != md5:
            print(f"warning: cached {path} has a wrong md5; downloading it again", file=sys.stderr)
            _remove_cached(path)
            return False
    else:
        expected, size = _recorded_size(path), os.path.getsize(path)
        if expected is not None and size != expected:
            print(f"warning: cached {path} is {size} bytes but {expected} were downloaded; downloading it again",
                  file=sys.stderr)
            _remove_cached(path)
            return False
    _verified.add(path)
    return True


def _remove_cached(path):
    """Delete a cached file and its size record."""
    for name in (path, path + SIZE_SUFFIX):
        if os.path.lexists(name):
            os.remove(name)


def discard_damaged_download(path):
    """Delete ``path`` if it is a file of the weight cache, so the next run fetches it anew; say what to do next.

    For readers that found ``path`` unreadable: returns the end of their error message (a cached download
    is deleted and fetched again on the next run; any other file is the user's to replace).
    """
    path = os.path.abspath(path)
    if os.path.dirname(os.path.realpath(path)) == os.path.realpath(cache_dir()) and os.path.isfile(path):
        _remove_cached(path)
        _verified.discard(path)
        return "it was a cached download and was deleted: run the command again to download it anew"
    return "download or copy it again"


def _download(weight, path, arg):
    url = weight_url(weight)
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the weight cache {directory} ({exc.strerror}); "
                        f"set PPGAN_HOME to a writable directory or pass {arg} PATH") from exc
    with atomic_path(path) as tmp:
        for attempt in range(RETRIES + 1):
            try:
                md5 = _fetch(url, tmp, weight.file)
                break
            except _AttemptFailed as exc:
                if not exc.retry or attempt == RETRIES:
                    raise UserError(f"could not download {weight.file} from {url} ({exc}); "
                                    f"download it yourself and pass {arg} PATH") from exc
                time.sleep(BACKOFF * 2**attempt)
        if weight.md5 is not None and md5 != weight.md5:
            raise UserError(f"downloaded {weight.file} from {url} has md5 {md5} instead of {weight.md5} "
                            f"and was deleted; download it yourself and pass {arg} PATH")
    with atomic_path(path + SIZE_SUFFIX) as tmp:
        with open(tmp, "w") as f:
            f.write(f"{os.path.getsize(path)}\n")
    _verified.add(path)


def _fetch(url, tmp, name):
    """Stream ``url`` into ``tmp`` with a progress bar; return the md5 of the bytes received."""
    md5 = hashlib.md5()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response, open(tmp, "wb") as f:
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            with tqdm(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr) as bar:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    md5.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as exc:
        raise _AttemptFailed(f"HTTP {exc.code} {exc.reason}", retry=exc.code >= 500) from exc
    except urllib.error.URLError as exc:
        raise _AttemptFailed(exc.reason) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _AttemptFailed(exc) from exc
    if total is not None and received < total:
        raise _AttemptFailed(f"connection closed after {received} of {total} bytes")
    return md5.hexdigest()

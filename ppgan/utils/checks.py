"""Checks of user values, run before any work: one-line UserErrors naming the input (``arg``) and a valid value."""
import math
import os

from .errors import UserError

SEED_MAX = 2**32 - 1  # numpy.random.RandomState takes seeds 0 .. 2**32 - 1
TRUNCATION_RANGE = (-1.0, 2.0)  # psi: 1 none, 0 the mean face, below 0 or above 1 extrapolates


def plain(value):
    """A number as a user types it: 5.0 -> '5', 0.25 -> '0.25', nan -> 'nan', inf -> 'inf'."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def check_float(arg, value, low=-math.inf, high=math.inf, low_open=False, example=None):
    """``value`` as a float, finite and in [low, high] (``(low, high]`` with ``low_open``), else UserError."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    below = number <= low if low_open else number < low
    if not math.isfinite(number) or below or number > high:
        lower = f"{'above' if low_open else 'at least'} {plain(float(low))}"
        if math.isfinite(low) and math.isfinite(high):
            wanted = (f"a number {lower} and at most {plain(float(high))}" if low_open
                      else f"a number from {plain(float(low))} to {plain(float(high))}")
        elif math.isfinite(low):
            wanted = f"a number {lower}"
        elif math.isfinite(high):
            wanted = f"a number of at most {plain(float(high))}"
        else:
            wanted = "a finite number"
        shown = plain(number) if isinstance(value, (int, float)) else repr(value)
        problem = "is out of range" if math.isfinite(number) else "is not a finite number"
        raise UserError(f"{arg} {shown} {problem}; pass {wanted}" + (f", e.g. {example}" if example else ""))
    return number


def check_int(arg, value, low, high=None, fix=None):
    """``value`` an int in [low, high] (no upper bound when ``high`` is None), else UserError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        wanted = f"an integer from {low} to {high}" if high is not None else f"an integer of at least {low}"
        raise UserError(f"{arg} {value} is out of range; {fix or f'pass {wanted}'}")
    return value


def check_seed(arg, value):
    """A random seed numpy accepts (0 .. 2**32 - 1), or None."""
    if value is not None:
        check_int(arg, value, 0, SEED_MAX)
    return value


def check_name(arg, value):
    """A name used inside file names: non-empty, no path separators, not '.' or '..'."""
    separators = {os.sep, "/", "\\"} | ({os.altsep} if os.altsep else set())
    if not value or not value.strip() or value in (".", "..") or any(sep in value for sep in separators) \
            or "\0" in value:
        raise UserError(f"{arg} {value!r} is not a name: it must be non-empty without path separators "
                        f"(e.g. ffhq-config-f); choose folders with the output flags")
    return value


def check_input_file(arg, path, what="file"):
    """An existing file for ``arg``: a missing path or a folder is a UserError saying which."""
    if os.path.isdir(path):
        raise UserError(f"{arg} {path} is a folder; pass {what}")
    if not os.path.isfile(path):
        raise UserError(f"{arg} {path} does not exist; pass {what}")
    return path


def load_npy(path, arg, what="a .npy file"):
    """numpy array of a ``.npy`` file, never unpickled; one-line errors that never suggest unsafe loading."""
    import numpy as np

    check_input_file(arg, path, what)
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise UserError(f"{arg} {path} cannot be read ({exc.strerror}); pass {what}") from None
    if magic != b"\x93NUMPY":
        raise UserError(f"{arg} {path} is not a numpy .npy file; pass {what}")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        reason = ("holds pickled Python objects, which are never loaded" if "pickle" in str(exc)
                  else "is cut short" if "fully written" in str(exc) or "read all data" in str(exc)
                  else "is a damaged .npy file")
        raise UserError(f"{arg} {path} {reason}; pass {what}") from None
    except (OSError, EOFError) as exc:
        raise UserError(f"{arg} {path} is a damaged .npy file ({getattr(exc, 'strerror', None) or exc}); "
                        f"pass {what}") from None
    return array

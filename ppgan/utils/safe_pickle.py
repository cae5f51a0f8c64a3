"""Reading pickles without running code: the one home for every pickle-based file the project reads.

A pickle is a program: its ``GLOBAL`` / ``STACK_GLOBAL`` opcodes name any importable callable and
``REDUCE`` calls it, so ``pickle.load`` (and ``paddle.load``, which uses it) runs whatever a file
asks for. ``RestrictedUnpickler`` resolves only the globals of an explicit table and refuses any
other name before calling anything: no import happens, no object of a foreign class is built.

``DATA_GLOBALS`` is what weight and data files hold: ``paddle.save`` (protocols 2-4, Paddle 2.x
and 3.x) and numpy's own pickling of arrays, dtypes and scalars (under numpy 1's ``numpy.core``
and numpy 2's ``numpy._core`` names), ``collections.OrderedDict``, plain containers, and under
protocol 2 ``_codecs.encode`` (how bytes are stored), restricted to latin-1 text. Readers of
other formats (PyTorch zips) pass a table of their own plus a ``persistent_load``.
"""
import _compat_pickle
import codecs
import collections
import os
import pickle

import numpy as np

from .download import discard_damaged_download
from .errors import UserError


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode`` as protocol 2 stores bytes: latin-1 text only (no other codec is reached)."""
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError("_codecs.encode with another codec than latin-1")
    return text.encode("latin1")


def _numpy_globals():
    """numpy's pickling functions under the module names numpy 1 and numpy 2 record."""
    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float32(0).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    table = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{core}.multiarray", "scalar")] = scalar
        table[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return table


DATA_GLOBALS = {
    **_numpy_globals(),
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "tuple"): tuple, ("builtins", "list"): list, ("builtins", "dict"): dict,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("_codecs", "encode"): _latin1_encode,
}


ZIP_MAGIC = b"PK\x03\x04"


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a global outside the table; ``name`` is ``module.name`` as the file records it."""

    def __init__(self, name):
        super().__init__(name)
        self.name = name


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ``allowed`` ({(module, name): object}) and refuses anything else.

    Protocol 2 files record Python 2 names (``__builtin__.set``, ``copy_reg``); they are looked up
    under their Python 3 names, as ``pickle`` itself does (the refusal names the recorded one). ``persistent_load``: the file format's
    handler of persistent ids (PyTorch storages); without one, a persistent id is refused.
    """

    def __init__(self, file, allowed=None, persistent_load=None):
        super().__init__(file, encoding="latin1")
        self._allowed = DATA_GLOBALS if allowed is None else allowed
        self._persistent = persistent_load

    def find_class(self, module, name):
        key = _compat_pickle.NAME_MAPPING.get((module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module), name))
        if key in self._allowed:
            return self._allowed[key]
        raise RefusedGlobal(f"{module}.{name}")

    def persistent_load(self, pid):
        if self._persistent is None:
            raise RefusedGlobal("a persistent id")
        return self._persistent(pid)


def refusal(source, exc):
    """The one-line UserError for a refused global ``exc`` (a RefusedGlobal) of ``source``."""
    return UserError(f"{source} asks for {exc.name}, which no weight or data file contains; it was not loaded")


def unpickle(stream, source, allowed=None, persistent_load=None):
    """The object of the pickle in binary ``stream``; a refused global raises the UserError of ``refusal``.

    Other unpickling errors propagate as they are (the caller knows what the file should be).
    """
    try:
        return RestrictedUnpickler(stream, allowed, persistent_load).load()
    except RefusedGlobal as exc:
        raise refusal(source, exc) from None


def read_pickle(path, arg, what=".pdparams file"):
    """The object of the pickle file ``path`` (made of ``DATA_GLOBALS``' kinds of object).

    ``what`` names the kind of file ``arg`` takes; a missing, folder, zip or unreadable file
    raises a one-line UserError that says so and names ``arg``.
    """
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder; pass a {what} with {arg}")
    if not os.path.isfile(path):
        raise UserError(f"{path} does not exist; pass an existing file with {arg}")
    try:
        with open(path, "rb") as f:
            if f.read(4) == ZIP_MAGIC:
                raise UserError(f"{path} is a zip archive (a PyTorch checkpoint?), not a {what}; convert a "
                                f"StyleGAN2 checkpoint with tools/convert_weights.py, or pass a {what} with {arg}")
            f.seek(0)
            return unpickle(f, path)
    except UserError:
        raise
    except Exception as exc:  # a damaged pickle raises many types
        raise UserError(f"{path} is not a readable {what} ({type(exc).__name__}); "
                        f"{discard_damaged_download(path)}, or pass another file with {arg}") from None

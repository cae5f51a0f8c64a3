"""PyTorch checkpoints read without PyTorch, nothing executed: ``torch.save`` zips as numpy.

A PyTorch checkpoint (``torch.save`` since 1.6) is a zip: ``<name>/data.pkl`` (a pickle
of the saved object whose tensors refer to storages) and ``<name>/data/<key>`` (each
storage's raw little-endian bytes). ``read_torch_checkpoint`` unpickles ``data.pkl`` through
``ppgan.utils.safe_pickle`` with ``TORCH_GLOBALS``, the few names such a file holds (tensor
rebuild, storage types, OrderedDict, argparse.Namespace), and executes nothing else.
"""
import collections
import pickle
import types
import zipfile

import numpy as np

from ...utils.download import discard_damaged_download
from ...utils.errors import UserError
from ...utils.safe_pickle import RefusedGlobal, unpickle

STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.name, self.dtype = name, STORAGE_DTYPES[name]


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    """A tensor as a numpy array (a copy) from its storage, offset, size and stride (in elements)."""
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * itemsize for s in stride))
    return np.array(view)


def _rebuild_parameter(data, requires_grad=False, hooks=None):
    return data


class _Namespace(types.SimpleNamespace):
    """Stands for argparse.Namespace (train.py's ``args``): attributes only."""


TORCH_GLOBALS = {  # every global a rosinality checkpoint's data.pkl names; nothing else is resolved
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("argparse", "Namespace"): _Namespace,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


def read_torch_checkpoint(path, supported, arg="input"):
    """The object a ``torch.save`` zip holds, tensors as numpy arrays; UserError for anything else.

    ``supported`` says, in errors, which checkpoints the caller reads (e.g. "rosinality stylegan2-pytorch
    checkpoints ..."); ``arg``: the caller's argument name for the file, which the errors name.
    """
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise UserError(f"{{{arg}}} {path} does not exist; pass a .pt checkpoint") from None
    except IsADirectoryError:
        raise UserError(f"{{{arg}}} {path} is a folder; pass a .pt checkpoint file") from None
    except zipfile.BadZipFile:
        with open(path, "rb") as f:
            head = f.read(2)
        what = ("a plain pickle (an NVlabs .pkl, or a PyTorch file older than 1.6), which this tool does not read; "
                "convert NVlabs models with rosinality's convert_weight.py first, re-save old files with a recent "
                "torch.save, or" if head[:1] == b"\x80" else "not a PyTorch checkpoint (no zip archive, or a truncated "
                f"one): {discard_damaged_download(path)}, or")
        raise UserError(f"{{{arg}}} {path} is {what} pass one of the {supported}") from None
    with archive:
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("/data.pkl") or name == "data.pkl"]
        if len(pickles) != 1:
            raise UserError(f"{{{arg}}} {path} is a zip without a PyTorch data.pkl; pass one of the {supported}")
        prefix = pickles[0][:-len("data.pkl")]
        byteorder = archive.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in names else "little"
        if byteorder != "little":
            raise UserError(f"{{{arg}}} {path} was saved on a {byteorder}-endian machine; re-save it on a little-endian one")

        def read_storage(key, dtype):
            return np.frombuffer(archive.read(f"{prefix}data/{key}"), dtype=dtype)

        def persistent_load(pid):
            if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"
                    and isinstance(pid[1], _StorageType)):
                raise RefusedGlobal(f"the persistent id {str(pid)[:60]}")
            return read_storage(str(pid[2]), pid[1].dtype)

        try:
            with archive.open(pickles[0]) as f:
                return unpickle(f, f"{{{arg}}} {path}", TORCH_GLOBALS, persistent_load)
        except UserError:
            raise
        except (KeyError, zipfile.BadZipFile, EOFError, ValueError, OSError, pickle.UnpicklingError) as exc:
            raise UserError(f"{{{arg}}} {path} is damaged ({type(exc).__name__}: {str(exc)[:80]}); "
                            f"{discard_damaged_download(path)}") from None

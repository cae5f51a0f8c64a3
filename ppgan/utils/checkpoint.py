"""Reading ``.pdparams`` files and strict state-dict loading."""
import sys

import numpy as np

from .errors import UserError
from .safe_pickle import read_pickle


NAME_TABLE = "StructuredToParameterName@@"  # paddle.save of a state dict: {key: tensor name}
SLICED = "UnpackBigParamInfor@@"  # paddle.save at protocol 2/3: arrays over 1 GB stored as slices
RANDOM_WEIGHTS_KEY = "RandomWeights@@"  # a state dict of random weights (tools/random_mirror.py): what made it

_noted_random = set()


def _is_saved_tensor(value):
    """paddle.save stores a Tensor (not in a state dict) as the tuple (name, ndarray)."""
    return type(value) is tuple and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], np.ndarray)


def _holds_saved_tensor(value):
    if _is_saved_tensor(value):
        return True
    items = value.values() if isinstance(value, dict) else value if type(value) in (list, tuple, set) else ()
    return any(_holds_saved_tensor(item) for item in items)


def _saved_tensors_to_arrays(value):
    """``value`` with every (name, ndarray) tuple replaced by its ndarray, containers rebuilt."""
    if _is_saved_tensor(value):
        return value[1]
    if isinstance(value, dict):
        for key in list(value):
            value[key] = _saved_tensors_to_arrays(value[key])
        return value
    if type(value) in (list, tuple, set):
        return type(value)(_saved_tensors_to_arrays(item) for item in value)
    return value


def load_pdparams(path, arg="{weight_path}"):
    """The content of a ``paddle.save`` file (Paddle 2.x and 3.x, protocols 2-4), tensors as numpy arrays.

    Read through ``safe_pickle`` (nothing in the file is executed) and unpacked as ``paddle.load``
    unpacks it: a state dict's name table dropped, sliced big arrays joined, saved tensors
    ``(name, ndarray)`` turned into their arrays; other numpy arrays and values come back as saved.
    A dict's ``RANDOM_WEIGHTS_KEY`` entry (random weights) is dropped with a note on stderr.
    Tensors stay on the host: callers hand them to ``set_value`` or ``paddle.to_tensor``.
    """
    content = read_pickle(path, arg)
    if isinstance(content, dict):
        for key, info in content.pop(SLICED, {}).items():
            content[key] = np.concatenate([content.pop(part) for part in info["slices"]]).reshape(info["OriginShape"])
        _note_random_weights(path, content.pop(RANDOM_WEIGHTS_KEY, None))
        if NAME_TABLE in content:
            content.pop(NAME_TABLE)
            return content
    return _saved_tensors_to_arrays(content) if _holds_saved_tensor(content) else content


def _note_random_weights(path, origin):
    """Say once per file on stderr that ``path`` holds random weights (``origin``: the entry saying what made it)."""
    if origin is None or path in _noted_random:
        return
    _noted_random.add(path)
    print(f"note: {path} holds random weights ({origin}); faces are noise and edits have no meaning",
          file=sys.stderr)


def _shape(value):
    return [int(d) for d in value.shape]


def _summary(names, limit=5):
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_state_dict_strict(layer, state_dict, source="the weights file", arg="{weight_path}", foreign=None):
    """Load ``state_dict`` into ``layer``: every parameter and saved buffer must be present with its shape.

    Missing keys and wrong shapes raise a UserError naming them (never a silent
    partial load). Extra keys are refused too, except those ``foreign(key)`` says lie
    outside the model (another network's weights, the blur kernels older PaddleGAN
    files carry), which are ignored and reported on stderr; without ``foreign``
    every extra key is ignored that way. Returns the ignored keys.

    Parameters created under ``paddle.LazyGuard`` (no memory yet) are filled too:
    each tensor is set directly, as Paddle 2.6's ``set_state_dict`` skips them.
    """
    expected = layer.state_dict()
    missing = [k for k in expected if k not in state_dict]
    wrong = [f"{k} {_shape(state_dict[k])} (expected {_shape(v)})"
             for k, v in expected.items() if k in state_dict and _shape(state_dict[k]) != _shape(v)]
    extra = [k for k in state_dict if k not in expected]
    unused = [k for k in extra if foreign is not None and not foreign(k)]
    if missing or wrong or unused:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys: {_summary(missing)}")
        if wrong:
            parts.append(f"wrong shape: {_summary(wrong)}")
        if unused:
            parts.append(f"{len(unused)} keys the model would leave unused: {_summary(unused)}")
        raise UserError(f"{source} does not match the model ({'; '.join(parts)}); "
                        f"check the model flags (size, n_mlp, channel_multiplier, ...) or pass the right file with {arg}")
    if extra:
        print(f"note: ignored {len(extra)} keys of {source} outside the model: {_summary(extra)}",
              file=sys.stderr)
    for name, target in expected.items():
        target.set_value(state_dict[name])
    return extra

"""Reading ``.pdparams`` files and strict state-dict loading."""
import os
import sys

from .errors import UserError


def load_pdparams(path, flag="--weight_path", return_numpy=False):
    """``paddle.load`` a file (Paddle 2.x and 3.x pickles) with one-line errors for missing or corrupt files.

    ``return_numpy``: tensors come back as numpy arrays, never placed on the device (for data
    the host uses, such as statistics and S samples, which would otherwise visit the GPU).
    """
    import paddle

    if os.path.isdir(path):
        raise UserError(f"{path} is a folder; pass a .pdparams file with {flag}")
    if not os.path.isfile(path):
        raise UserError(f"{path} does not exist; pass an existing file with {flag}")
    try:
        return paddle.load(path, return_numpy=return_numpy)
    except Exception as exc:  # paddle raises many types for a damaged pickle
        raise UserError(f"{path} is not a readable .pdparams file ({type(exc).__name__}); "
                        f"download it again or pass another file with {flag}") from exc


def _shape(value):
    return [int(d) for d in value.shape]


def _summary(names, limit=5):
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_state_dict_strict(layer, state_dict, source="the weights file", flag="--weight_path", foreign=None):
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
                        f"check the model flags (size, n_mlp, channel_multiplier, ...) or pass the right file with {flag}")
    if extra:
        print(f"note: ignored {len(extra)} keys of {source} outside the model: {_summary(extra)}",
              file=sys.stderr)
    for name, target in expected.items():
        target.set_value(state_dict[name])
    return extra

"""rosinality stylegan2-pytorch checkpoints: the generator of a ``train.py`` .pt in PaddleGAN's layout.

Conversion (``rosinality_to_paddle``): the EqualLinear weights (``style.N.weight`` and
every ``*.modulation.weight``) are transposed (PyTorch stores [out, in], PaddleGAN
[in, out]); the blur-kernel buffers (``*.blur.kernel``, rebuilt by the model) are dropped;
every other key keeps its name and layout.
"""
import numpy as np

from ...utils.errors import UserError

SUPPORTED = ("rosinality stylegan2-pytorch checkpoints (train.py's .pt with g_ema, or a bare generator "
             "state dict saved by torch.save)")


def _is_state_dict(value):
    return isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values())


def _looks_like_generator(state_dict):
    return "input.input" in state_dict and "conv1.conv.modulation.weight" in state_dict


def pick_generator(checkpoint, key=None, source="the checkpoint"):
    """The generator state dict of a loaded checkpoint: ``checkpoint[key]``, else ``g_ema``, else a bare state dict."""
    if key is not None:
        if not isinstance(checkpoint, dict) or key not in checkpoint:
            keys = ", ".join(map(str, checkpoint)) if isinstance(checkpoint, dict) else type(checkpoint).__name__
            raise UserError(f"{source} has no entry {key!r} (it holds {keys}); pass another {{key}}")
        state_dict = checkpoint[key]
    elif isinstance(checkpoint, dict) and "g_ema" in checkpoint:
        state_dict = checkpoint["g_ema"]
    else:
        state_dict = checkpoint
    if not _is_state_dict(state_dict):
        held = ", ".join(map(str, state_dict))[:120] if isinstance(state_dict, dict) else type(state_dict).__name__
        raise UserError(f"{source} holds no generator state dict ({held}); pass {{key}} with the entry holding "
                        f"one (e.g. g_ema or g)")
    if not _looks_like_generator(state_dict):
        sample = ", ".join(list(state_dict)[:3])
        raise UserError(f"{source} holds a state dict that is not a StyleGAN2 generator (keys {sample}, ...: a "
                        f"discriminator?); pass one of the {SUPPORTED}")
    return state_dict


def _is_equal_linear_weight(key):
    return key.endswith(".modulation.weight") or (key.startswith("style.") and key.endswith(".weight"))


def rosinality_to_paddle(state_dict):
    """rosinality generator state dict (numpy) -> PaddleGAN's layout: EqualLinear weights transposed, blur kernels dropped."""
    converted = {}
    for key, value in state_dict.items():
        if key.endswith(".blur.kernel"):
            continue
        converted[key] = np.ascontiguousarray(value.T) if _is_equal_linear_weight(key) else value
    return converted

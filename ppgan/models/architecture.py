"""A PaddleGAN-layout StyleGAN2 generator's architecture, read from its state dict's keys and shapes."""
import re

from ..utils.errors import UserError
from .generators.generator_styleganv2 import default_channels

CONVERT_HINT = ("PaddleGAN .pdparams, NVIDIA .pkl (TensorFlow or stylegan2-ada-pytorch) and rosinality .pt files "
                "load as they are: docs/models.md")


def _shape(value):
    return [int(d) for d in value.shape]


def _indices(state_dict, pattern):
    return sorted({int(m.group(1)) for key in state_dict if (m := re.fullmatch(pattern, key))})


def stylegan2_architecture(state_dict, source="the weights file", prefix=""):
    """Read a PaddleGAN-layout StyleGAN2 state dict's architecture from its keys and shapes.

    Returns dict(size, style_dim, n_mlp, channels={resolution: width}, channel_multiplier
    (the config-f factor the widths follow, or None for other widths)).
    """
    p = re.escape(prefix)
    try:
        channels = {4: _shape(state_dict[prefix + "input.input"])[1]}
        style_dim = _shape(state_dict[prefix + "conv1.conv.modulation.weight"])[0]
    except (KeyError, IndexError, TypeError, AttributeError):
        raise UserError(f"{source} is not a StyleGAN2 generator in PaddleGAN's layout (no {prefix}input.input or "
                        f"{prefix}conv1.conv.modulation.weight); {CONVERT_HINT}") from None
    blocks = _indices(state_dict, p + r"to_rgbs\.(\d+)\.conv\.weight")
    mapping = _indices(state_dict, p + r"style\.(\d+)\.weight")
    if blocks != list(range(len(blocks))) or mapping != list(range(1, len(mapping) + 1)):
        raise UserError(f"{source} has gaps in its to_rgbs.N / style.N layers (to_rgbs {blocks}, style {mapping}); "
                        "it is damaged or not a StyleGAN2 generator")
    for block in blocks:
        key = f"{prefix}convs.{2 * block}.conv.weight"
        if key not in state_dict:
            raise UserError(f"{source} lacks {key}; it is damaged or not a StyleGAN2 generator")
        channels[8 * 2 ** block] = _shape(state_dict[key])[1]
    multiplier = next((cm for cm in range(1, 65)
                       if all(default_channels(cm)[res] == width for res, width in channels.items())), None)
    return dict(size=8 * 2 ** (len(blocks) - 1) if blocks else 4, style_dim=style_dim, n_mlp=len(mapping),
                channels=channels, channel_multiplier=multiplier)

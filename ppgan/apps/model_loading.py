"""Build the released generators from a model type or a weights file (shared by every predictor)."""
from ..models.generators import StyleGANv2Generator
from ..utils.checkpoint import load_pdparams, load_state_dict_strict
from ..utils.download import resolve_weights

# model_type -> (release name for the weight resolver, generator config)
STYLEGAN2_MODELS = {
    "ffhq-config-f": ("stylegan2-ffhq-config-f",
                      dict(size=1024, style_dim=512, n_mlp=8, channel_multiplier=2)),
    "animeface-512": ("stylegan2-animeface-512",
                      dict(size=512, style_dim=512, n_mlp=8, channel_multiplier=2)),
}


def parse_channels(text):
    """``"4:512,8:256"`` -> {4: 512, 8: 256} (the ``--channels`` flag)."""
    from ..utils.errors import UserError

    try:
        return {int(res): int(width) for res, width in (item.split(":") for item in text.split(","))}
    except ValueError:
        raise UserError(f"--channels {text!r} is not a list like 4:512,8:512,16:256") from None


def stylegan2_config(model_type=None, size=None, style_dim=None, n_mlp=None, channel_multiplier=None,
                     channels=None):
    """Generator config of ``model_type`` with any explicitly given value overriding it."""
    config = dict(STYLEGAN2_MODELS.get(model_type, (None, STYLEGAN2_MODELS["ffhq-config-f"][1]))[1])
    if isinstance(channels, str):
        channels = parse_channels(channels)
    for key, value in dict(size=size, style_dim=style_dim, n_mlp=n_mlp,
                           channel_multiplier=channel_multiplier, channels=channels).items():
        if value is not None:
            config[key] = value
    return config


def load_stylegan2(model_type="ffhq-config-f", weight_path=None, size=None, style_dim=None, n_mlp=None,
                   channel_multiplier=None, channels=None, flag="--weight_path"):
    """A StyleGANv2Generator in eval mode with released or local weights, strictly checked.

    ``weight_path`` wins over ``model_type``; the size flags override the
    config of ``model_type`` (PaddleGAN defaults 1024 / 512 / 8 / 2);
    ``channels`` ({res: width} or "4:512,8:512,...") overrides widths of
    custom models.
    """
    from ..utils.errors import UserError

    if weight_path is None and model_type not in STYLEGAN2_MODELS:
        raise UserError(f"unknown --model_type {model_type}; use one of {', '.join(STYLEGAN2_MODELS)} "
                        f"or pass {flag}")
    release = STYLEGAN2_MODELS.get(model_type, (None,))[0]
    path = resolve_weights(release, weight_path, flag=flag)
    generator = StyleGANv2Generator(**stylegan2_config(model_type, size, style_dim, n_mlp, channel_multiplier, channels))
    load_state_dict_strict(generator, load_pdparams(path, flag), source=path, flag=flag)
    generator.eval()
    return generator

"""Official pSp and encoder4editing (e4e) checkpoints read without PyTorch, in PaddleGAN's pSp layout.

eladrich/pixel2style2pixel's and omertov/encoder4editing's coaches save a PyTorch zip holding
``state_dict`` (``encoder.*`` and ``decoder.*``), ``opts`` (the training options, a dict) and
``latent_avg`` [n_styles, style_dim]. Both encoders share IR-SE-50 and their key names; e4e's
head reads them differently (``Encoder4Editing``). Conversion (``read_encoder``): BatchNorm
``running_mean`` / ``running_var`` -> ``_mean`` / ``_variance``, ``num_batches_tracked`` dropped,
PReLU ``weight`` -> ``_weight``, every EqualLinear weight (``encoder.styles.N.linear``,
``decoder.style.N``, ``*.conv.modulation``) transposed to [in, out], the decoder's blur kernels
dropped, ``latent_avg`` -> buffer [1, n_styles, style_dim]; all else keeps its name and shape.
"""
import re

import numpy as np

from ...utils.errors import UserError
from ..architecture import stylegan2_architecture
from ..generators.generator_pixel2style2pixel import IR_SE_50_STAGES
from .rosinality import rosinality_to_paddle
from .torch_files import read_torch_checkpoint

SUPPORTED = ("official pSp (GradualStyleEncoder) or e4e (Encoder4Editing) checkpoints as their repositories "
             "release them")
KINDS = {"GradualStyleEncoder": "psp", "Encoder4Editing": "e4e"}
PRELU = re.compile(r"encoder\.(input_layer\.2|body\.\d+\.res_layer\.2)\.weight")
STAGE_STARTS = [sum(units for _, units in IR_SE_50_STAGES[:i]) for i in range(len(IR_SE_50_STAGES))]


def _encoder_key(key, value):
    """(PaddleGAN key, value) of an official ``encoder.*`` entry, or None for a dropped one."""
    if key.endswith(".num_batches_tracked"):
        return None
    if key.endswith(".running_mean"):
        return key[:-len("running_mean")] + "_mean", value
    if key.endswith(".running_var"):
        return key[:-len("running_var")] + "_variance", value
    if PRELU.fullmatch(key):
        return key[:-len("weight")] + "_weight", value
    if re.fullmatch(r"encoder\.styles\.\d+\.linear\.weight", key):
        return key, np.ascontiguousarray(value.T)
    return key, value


def _encoder_widths(state_dict, source):
    """(input layer, stage 1..4) widths and the input channels of an IR-SE-50 encoder's weights."""
    units = {int(m.group(1)) for key in state_dict if (m := re.match(r"encoder\.body\.(\d+)\.", key))}
    if units != set(range(STAGE_STARTS[-1] + IR_SE_50_STAGES[-1][1])):
        raise UserError(f"{source} holds an encoder with {len(units)} IR units, not IR-SE-50's "
                        f"{STAGE_STARTS[-1] + IR_SE_50_STAGES[-1][1]}; only 50-layer encoders are supported")
    if "encoder.body.0.res_layer.5.fc1.weight" not in state_dict:
        raise UserError(f"{source} holds an IR encoder without squeeze-excitation (mode 'ir'); only 'ir_se' is "
                        "supported")
    stem = state_dict["encoder.input_layer.0.weight"].shape
    widths = [stem[0]] + [state_dict[f"encoder.body.{start}.res_layer.1.weight"].shape[0] for start in STAGE_STARTS]
    return tuple(int(w) for w in widths), int(stem[1])


def _kind(opts, source):
    encoder_type = opts.get("encoder_type")
    if encoder_type not in KINDS:
        found = f"encoder_type {encoder_type!r}" if encoder_type else "no encoder_type in its opts"
        raise UserError(f"{source} has {found}; pass one of the {SUPPORTED}")
    if opts.get("learn_in_w"):
        raise UserError(f"{source} is a learn_in_w pSp (one W for every row), which is not supported; pass one "
                        f"of the {SUPPORTED}")
    return KINDS[encoder_type]


def read_encoder(path):
    """``(state_dict, opts, kind)`` of an official pSp or e4e ``.pt``; UserError naming ``{weight_path}`` else.

    ``state_dict``: numpy arrays in PaddleGAN's pSp layout (what ``Pixel2Style2Pixel(opts)``
    loads, ``latent_avg`` [1, n_styles, style_dim] included); ``opts``: the options that build
    it (encoder_type, input_nc, start_from_latent_avg, learn_in_w, n_styles, size, style_dim,
    n_mlp, channels, channel_multiplier, encoder_widths), read off the weights; ``kind``:
    'psp' or 'e4e'.
    """
    source = f"{{weight_path}} {path}"
    checkpoint = read_torch_checkpoint(path, SUPPORTED, arg="weight_path")
    official = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(official, dict) or not all(isinstance(v, np.ndarray) for v in official.values()):
        held = ", ".join(map(str, checkpoint))[:120] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise UserError(f"{source} holds no state_dict ({held}); pass one of the {SUPPORTED}")
    opts = checkpoint.get("opts")
    opts = dict(opts) if isinstance(opts, dict) else dict(vars(opts)) if hasattr(opts, "__dict__") else {}
    kind = _kind(opts, source)
    has_encoder = "encoder.input_layer.0.weight" in official
    has_decoder = "decoder.input.input" in official
    if not (has_encoder and has_decoder):
        what = "only a decoder (a StyleGAN2 generator)" if has_decoder else (
            "only an encoder (no decoder.* weights)" if has_encoder else "neither an encoder nor a decoder")
        raise UserError(f"{source} holds {what}; pass a full {kind} checkpoint, one of the {SUPPORTED}")
    encoder, decoder = {}, {}
    for key, value in official.items():
        if key.startswith("decoder."):
            decoder[key[len("decoder."):]] = value
        elif key.startswith("encoder.") and (converted := _encoder_key(key, value)):
            encoder[converted[0]] = converted[1]
    state_dict = {**encoder, **{"decoder." + key: value for key, value in rosinality_to_paddle(decoder).items()}}
    arch = stylegan2_architecture(state_dict, source, prefix="decoder.")
    widths, input_nc = _encoder_widths(official, source)
    n_styles = len({key.split(".")[2] for key in encoder if key.startswith("encoder.styles.")})
    n_latent = 2 * int(np.log2(arch["size"])) - 2
    if n_styles != n_latent:
        raise UserError(f"{source} has {n_styles} style heads but its {arch['size']} px decoder takes {n_latent} "
                        "W+ rows; the file is damaged")
    start_from_latent_avg = bool(opts.get("start_from_latent_avg", True))
    if start_from_latent_avg:
        latent_avg = checkpoint.get("latent_avg")
        if not isinstance(latent_avg, np.ndarray) or latent_avg.shape[-1] != arch["style_dim"]:
            raise UserError(f"{source} has no latent_avg of width {arch['style_dim']}, which its encoder starts "
                            "from; pass a checkpoint saved by the repository's coach")
        state_dict["latent_avg"] = np.ascontiguousarray(
            np.broadcast_to(latent_avg, (n_latent, arch["style_dim"]))[None], dtype=np.float32)
    model_opts = dict(encoder_type=opts["encoder_type"], input_nc=input_nc, start_from_latent_avg=start_from_latent_avg,
                      learn_in_w=False, n_styles=n_styles, encoder_widths=widths,
                      channel_multiplier=arch["channel_multiplier"] or 2,
                      **{key: arch[key] for key in ("size", "style_dim", "n_mlp", "channels")})
    return state_dict, model_opts, kind

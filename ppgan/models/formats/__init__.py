"""Every checkpoint format the tools read, torch- and TF-free, nothing executed; told apart by content.

| format | how it is told | reader |
| --- | --- | --- |
| PaddleGAN ``.pdparams`` (and converted files) | a pickle of numpy / Paddle tensors | ``utils.checkpoint.load_pdparams`` |
| NVlabs TensorFlow / stylegan2-ada-pytorch ``.pkl`` | a pickle naming ``dnnlib`` / ``torch_utils`` | ``nvlabs`` |
| rosinality ``.pt`` (generator) | a PyTorch zip without ``opts`` | ``rosinality`` over ``torch_files`` |
| official pSp / e4e ``.pt`` (encoder) | a PyTorch zip with ``state_dict`` and ``opts`` | ``encoders`` |

A generator file in PaddleGAN's layout may carry ``GENERATOR_OPTIONS`` beside its tensors (what
``tools/convert_weights.py`` writes for an NVlabs network): ``conv_clamp`` and ``w_avg``.
"""
import numpy as np

from ...utils.checkpoint import load_pdparams
from ...utils.safe_pickle import ZIP_MAGIC
from .encoders import read_encoder
from .nvlabs import read_nvlabs_generator
from .rosinality import SUPPORTED as ROSINALITY, pick_generator, rosinality_to_paddle
from .torch_files import read_torch_checkpoint

GENERATOR_OPTIONS = ("conv_clamp", "w_avg")  # entries of a converted generator file beyond PaddleGAN's tensors
NVLABS_MARKERS = (b"dnnlib", b"torch_utils")  # module names an NVlabs pickle names at its start
SNIFF_BYTES = 1 << 16


def file_format(path):
    """'pdparams', 'nvlabs' or 'torch' (a PyTorch zip), from the first bytes of the file at ``path``."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if head.startswith(ZIP_MAGIC):
        return "torch"
    return "nvlabs" if any(marker in head for marker in NVLABS_MARKERS) else "pdparams"


def _is_encoder(checkpoint):
    return isinstance(checkpoint, dict) and "state_dict" in checkpoint and "opts" in checkpoint


def read_generator(path, arg="{weight_path}"):
    """(state_dict, options) of a StyleGAN2 generator file of any supported format.

    ``state_dict``: numpy arrays in PaddleGAN's ``StyleGANv2Generator`` layout; ``options``:
    ``conv_clamp`` (None or a float) and ``w_avg`` (float32 [style_dim] or None), for
    ``StyleGANv2Generator(..., conv_clamp=...)`` and ``set_w_avg``. ``arg`` names the input in errors.
    """
    kind = file_format(path)
    if kind == "nvlabs":
        return read_nvlabs_generator(path)
    if kind == "torch":
        return rosinality_to_paddle(pick_generator(read_torch_checkpoint(path, ROSINALITY, arg.strip("{}")),
                                                   source=path)), {"conv_clamp": None, "w_avg": None}
    state_dict = load_pdparams(path, arg)
    if not isinstance(state_dict, dict):
        return state_dict, {}
    options = {key: state_dict.pop(key, None) for key in GENERATOR_OPTIONS}
    if options["conv_clamp"] is not None:
        options["conv_clamp"] = float(np.asarray(options["conv_clamp"]))
    return state_dict, options


def generator_file_content(state_dict, options):
    """What a converted generator file holds: the tensors plus the options that are set (see ``read_generator``)."""
    content = dict(state_dict)
    if options.get("conv_clamp") is not None:
        content["conv_clamp"] = np.float32(options["conv_clamp"])
    if options.get("w_avg") is not None:
        content["w_avg"] = np.asarray(options["w_avg"], np.float32)
    return content


def read_psp_file(path, arg="{weight_path}"):
    """(state_dict, opts) of a pSp-family encoder file: PaddleGAN's ``.pdparams`` (its ``opts`` entry,
    if any, popped) or an official pSp / e4e ``.pt`` (converted to PaddleGAN's layout, ``opts`` read
    off the weights)."""
    if file_format(path) == "torch":
        state_dict, opts, _ = read_encoder(path)
        return state_dict, opts
    state_dict = load_pdparams(path, arg)
    if not isinstance(state_dict, dict):
        return state_dict, None
    opts = state_dict.pop("opts", None)
    return state_dict, {} if opts is None else dict(opts) if isinstance(opts, dict) else dict(vars(opts))


def read_any(path):
    """(kind, content) of a file for ``tools/convert_weights.py``: ('generator', (state_dict, options)) or
    ('psp', (state_dict, opts))."""
    kind = file_format(path)
    if kind == "torch" and _is_encoder(read_torch_checkpoint(path, ROSINALITY)):
        return "psp", read_psp_file(path)
    return "generator", read_generator(path, "{input}")

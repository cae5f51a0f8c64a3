"""NVIDIA's StyleGAN2 network pickles read without TensorFlow or PyTorch, nothing executed.

Two formats (both plain pickles that embed the source code of their networks, which is never
run: every global they name resolves to a stand-in of ours, anything else is refused unread):

- NVlabs/stylegan2 TensorFlow pickles (G, D, Gs) (``nvlabs_tf``), ``Gs`` taken;
- stylegan2-ada-pytorch snapshots dict(G, D, G_ema, ...) (``nvlabs_ada``), ``G_ema`` taken.

``read_nvlabs_generator(path)`` returns the generator in PaddleGAN's StyleGANv2Generator layout
and the options such a generator needs beyond PaddleGAN's file (``conv_clamp``, ``w_avg``).
"""
import os

from ...utils.download import discard_damaged_download
from ...utils.errors import UserError
from ...utils.safe_pickle import DATA_GLOBALS, ZIP_MAGIC, unpickle
from .nvlabs_ada import ADA_GLOBALS, ada_generator
from .nvlabs_tf import TF_GLOBALS, tf_generator
from .rosinality import rosinality_to_paddle

NVLABS_GLOBALS = {**DATA_GLOBALS, **ADA_GLOBALS, **TF_GLOBALS}


def read_nvlabs_generator(path):
    """(state_dict, options) of an NVlabs StyleGAN2 network pickle at ``path``.

    ``state_dict``: float32 numpy arrays named and shaped as ``StyleGANv2Generator(size, style_dim,
    n_mlp, channels=...).state_dict()`` (``loading.stylegan2_architecture`` reads those from it);
    ``options``: ``conv_clamp`` (None, or the float a stylegan2-ada-pytorch network clamps its
    layers' outputs to; pass it to the generator) and ``w_avg`` (float32 [style_dim], the file's
    truncation centre; ``generator.set_w_avg``). Anything else raises a one-line UserError naming
    ``{weight_path}``.
    """
    if os.path.isdir(path):
        raise UserError(f"{{weight_path}} {path} is a folder; pass a StyleGAN2 network .pkl file")
    if not os.path.isfile(path):
        raise UserError(f"{{weight_path}} {path} does not exist; pass an existing StyleGAN2 network .pkl file")
    source = f"{{weight_path}} {path}"
    try:
        with open(path, "rb") as f:
            if f.read(4) == ZIP_MAGIC:
                raise UserError(f"{source} is a zip archive (a PyTorch checkpoint), not an NVlabs network pickle")
            f.seek(0)
            network = unpickle(f, source, NVLABS_GLOBALS)
    except UserError:
        raise
    except Exception as exc:  # a truncated or damaged pickle raises many types
        raise UserError(f"{source} is truncated or damaged ({type(exc).__name__}); "
                        f"{discard_damaged_download(path)}") from None
    state_dict, options = (tf_generator if isinstance(network, tuple) else ada_generator)(network, path)
    return rosinality_to_paddle(state_dict), options

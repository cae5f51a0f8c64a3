"""W+ latents from files and arrays: the faces the edit, the fitting and the page start from."""
import numpy as np
import paddle

from ..utils.checks import load_npy
from ..utils.errors import UserError


def load_latent_file(path, arg="{latent}"):
    """A .npy file as a numpy array, with one-line errors for a missing, foreign or unreadable file."""
    return load_npy(path, arg, "a W+ .npy file (e.g. latents.npy of styleganv2.py)")


def read_latents(latent, n_latent, style_dim, source="latent", fix=None):
    """Faces to edit as W+ float32 [N, n_latent, style_dim].

    ``latent``: a .npy path or an array (numpy or Paddle) of W+ [n_latent, style_dim],
    [N, n_latent, style_dim] (N faces) or W [style_dim] (tiled to every row).
    ``source`` and ``fix`` word the shape error (default: a latent the user passed).
    """
    array = load_latent_file(latent) if isinstance(latent, str) else latent
    array = np.asarray(array.numpy() if isinstance(array, paddle.Tensor) else array)
    given = list(array.shape)
    if array.shape == (style_dim,):
        array = np.tile(array, (n_latent, 1))
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (n_latent, style_dim) or len(array) == 0:
        raise UserError(f"{source} of shape {given} does not fit this generator; "
                        + (fix or f"pass W+ [{n_latent}, {style_dim}] or [N, {n_latent}, {style_dim}] (N faces), "
                                  f"or W [{style_dim}]"))
    if not np.issubdtype(array.dtype, np.floating):
        raise UserError(f"latent has dtype {array.dtype}, not float; pass a W+ .npy file")
    if not np.isfinite(array).all():
        raise UserError("latent holds NaN or infinite values; pass a W+ .npy file")
    return array.astype(np.float32)

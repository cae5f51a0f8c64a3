"""PaddleGAN's fitting predictor: a generator and LPIPS; ``run`` fits W+ to one photo (``ppgan.inversion.fitting``)."""
import functools
import os

import numpy as np
import paddle
from PIL import Image

from ..inversion.fitting import (
    DEFAULT_LATENT_LEVEL,
    build_fitter,
    check_fitting_options,
    fitting_target,
    image_to_target,
    mean_wplus,
)
from ..inversion.latents import read_latents
from ..utils.fileio import atomic_path, check_writable_dir
from .styleganv2_predictor import StyleGANv2Predictor

SRC_NAME, DST_NAME, NPY_NAME = "src.fitting.png", "dst.fitting.png", "dst.fitting.npy"


class StyleGANv2FittingPredictor(StyleGANv2Predictor):
    """A generator, a landmark model (with ``need_align``) and LPIPS; ``run`` fits one photo.

    ``run`` writes ``src.fitting.png`` (the target: the aligned face or the resized image),
    ``dst.fitting.png`` (the fitted render, saved noise) and ``dst.fitting.npy``
    (W+ float32 [n_latent, style_dim], the input of ``styleganv2clip.py --latent``).
    """

    def __init__(self, output_path="output_dir", weight_path=None, model_type=None, seed=None,
                 size=None, style_dim=None, n_mlp=None, channel_multiplier=None, channels=None, config=None,
                 spec=None, vgg_weight_path=None, lins_weight_path=None, landmark_model=None):
        super().__init__(output_path, weight_path, model_type, seed, size, style_dim, n_mlp, channel_multiplier,
                         channels, config, spec)
        self.lpips_weight_paths = vgg_weight_path, lins_weight_path
        self.landmark_model = landmark_model

    @functools.cached_property
    def fitter(self):
        """The ``LatentFitter``, made on first use: LPIPS weights are fetched only once the options are checked."""
        return build_fitter(self.generator, *self.lpips_weight_paths)

    def run(self, image, need_align=False, start_lr=0.1, final_lr=0.025, latent_level=DEFAULT_LATENT_LEVEL,
            step=100, mse_weight=1.0, pre_latent=None):
        """Fit a photo and write the three files (all or none). Returns the W+ [n_latent, style_dim].

        ``pre_latent``: starting W+ (a .npy path or array of [n_latent, style_dim]; default the mean W).
        """
        g = self.generator
        check_fitting_options(g.n_latent, latent_level, step, start_lr, final_lr, mse_weight)
        initial = mean_wplus(g) if pre_latent is None else read_latents(pre_latent, g.n_latent, g.style_dim)[:1]
        check_writable_dir(self.output_path)
        src = fitting_target(image, g.size, need_align, self.landmark_model)
        latent = self.fitter.fit(image_to_target(src, g.size), initial, latent_level, step, start_lr, final_lr,
                                 mse_weight)[0]
        dst = self.render(paddle.to_tensor(latent[None]))[0]
        paths = [os.path.join(self.output_path, name) for name in (SRC_NAME, DST_NAME, NPY_NAME)]
        with atomic_path(paths[0]) as src_tmp, atomic_path(paths[1]) as dst_tmp, atomic_path(paths[2]) as npy_tmp:
            src.save(src_tmp, format="PNG")
            Image.fromarray(dst).save(dst_tmp, format="PNG")
            np.save(npy_tmp, latent)
        return latent

"""Invert a face photo into StyleGAN2's W+ with pSp: align, encode, render."""
import functools
import os

import numpy as np
import paddle
from PIL import Image

from ..faceutils import FaceAligner
from ..models.generators import Pixel2Style2Pixel
from ..models.generators.fast_synthesis import SynthesisProgram
from ..models.generators.generator_pixel2style2pixel import INPUT_SIZE
from ..utils.checkpoint import load_pdparams, load_state_dict_strict
from ..utils.download import resolve_weights
from ..utils.errors import UserError
from ..utils.fileio import atomic_path, check_writable_dir
from ..utils.image import to_uint8
from .model_loading import parse_channels

# model_type -> (release name for the weight resolver, decoder config)
PSP_MODELS = {
    "ffhq-inversion": ("pSp-ffhq-inversion", dict(size=1024, style_dim=512, n_mlp=8, channel_multiplier=2)),
}


def load_pixel2style2pixel(model_type="ffhq-inversion", weight_path=None, size=None, style_dim=None, n_mlp=None,
                           channel_multiplier=None, channels=None, flag="--weight_path"):
    """A Pixel2Style2Pixel in eval mode with released or local weights, strictly checked.

    The file is a state dict plus ``opts`` (PaddleGAN's pSp options). The
    decoder config is that of ``model_type``, overridden by the file's
    ``opts`` (``size`` or pSp's ``output_size``, ...), overridden by any
    argument given here; the encoder options come from the file.
    """
    if weight_path is None and model_type not in PSP_MODELS:
        raise UserError(f"unknown --model_type {model_type}; use one of {', '.join(PSP_MODELS)} or pass {flag}")
    release, config = PSP_MODELS.get(model_type, PSP_MODELS["ffhq-inversion"])
    path = resolve_weights(release, weight_path, flag=flag)
    state_dict = load_pdparams(path, flag)
    if not isinstance(state_dict, dict):
        raise UserError(f"{path} holds a {type(state_dict).__name__}, not a pSp state dict; "
                        f"pass a pSp file with {flag}")
    file_opts = _plain_opts(state_dict.pop("opts", None))
    if "size" not in file_opts and "output_size" in file_opts:
        file_opts["size"] = file_opts["output_size"]
    given = dict(size=size, style_dim=style_dim, n_mlp=n_mlp, channel_multiplier=channel_multiplier,
                 channels=parse_channels(channels) if isinstance(channels, str) else channels)
    opts = {**config, **file_opts, **{key: value for key, value in given.items() if value is not None}}
    try:
        # Every parameter is overwritten by the strict load: skip the random initialisation (~20 s for ffhq).
        with paddle.LazyGuard():
            model = Pixel2Style2Pixel(opts)
    except ValueError as exc:
        raise UserError(f"cannot build pSp from {path} and the flags: {exc}") from exc
    load_state_dict_strict(model, state_dict, source=path, flag=flag)
    model.eval()
    return model


def _plain_opts(opts):
    """The ``opts`` entry of a pSp file (a dict, an object with attributes or absent) as a dict."""
    if opts is None:
        return {}
    return dict(opts) if isinstance(opts, dict) else dict(vars(opts))


class Pixel2Style2PixelPredictor:
    """Holds the face aligner and a pSp model; ``run(photo)`` inverts the photo's largest face.

    ``run`` writes to ``output_path``: ``src.png`` (the aligned 256x256 input),
    ``dst.png`` (the reconstruction at the decoder's resolution, as PaddleGAN
    saves it, rendered with the generator's saved noise) and ``dst.npy`` (W+
    float32 [n_latent, style_dim], latent_avg included: the input of
    ``styleganv2clip.py --latent``). The decoder flags override the file's
    options (see ``load_pixel2style2pixel``). The landmark model loads at
    once; the pSp weights (downloaded if needed) when the first face is found.
    """

    def __init__(self, output_path="output_dir", weight_path=None, model_type="ffhq-inversion", seed=None, size=None,
                 style_dim=None, n_mlp=None, channel_multiplier=None, channels=None, landmark_model=None,
                 weight_flag="--weight_path"):
        self.output_path = output_path
        self.seed = seed  # PaddleGAN's argument; the inversion is deterministic (saved noise), nothing draws from it
        self.aligner = FaceAligner(landmark_model)
        self._model_args = (model_type, weight_path, size, style_dim, n_mlp, channel_multiplier, channels,
                            weight_flag)

    @functools.cached_property
    def model(self):
        """The Pixel2Style2Pixel, loaded on first use."""
        return load_pixel2style2pixel(*self._model_args)

    @functools.cached_property
    def synthesis(self):
        """The decoder's synthesis network as a (compiled on CPU) ``SynthesisProgram``."""
        return SynthesisProgram(self.model.decoder)

    def align(self, image):
        """Photo (path, PIL image or uint8 RGB array) -> its largest face, FFHQ-aligned, 256x256 RGB PIL image."""
        return self.aligner(image, INPUT_SIZE).image

    def encode(self, aligned):
        """Aligned 256x256 RGB PIL image -> W+ float32 [n_latent, style_dim] (numpy)."""
        pixels = np.asarray(aligned, dtype=np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0
        with paddle.no_grad():
            return self.model.encode(paddle.to_tensor(pixels))[0].numpy()

    def invert(self, image):
        """Photo -> W+ float32 [n_latent, style_dim], the ``dst.npy`` of ``run``, without writing anything."""
        return self.encode(self.align(image))

    def render(self, latent):
        """W+ [n_latent, style_dim] -> uint8 image [size, size, 3], saved noise."""
        with paddle.no_grad():
            styles = self.model.decoder.style_affine(paddle.to_tensor(latent[None]))
        return to_uint8(self.synthesis(styles))[0]

    def run(self, image):
        """Invert a photo and write src.png, dst.png and dst.npy (all or none).

        Returns (aligned uint8 [256, 256, 3], reconstruction uint8 [size, size, 3], W+ [n_latent, style_dim]).
        """
        check_writable_dir(self.output_path)
        src = self.align(image)
        latent = self.encode(src)
        dst = self.render(latent)
        src_path, dst_path, npy_path = (os.path.join(self.output_path, name)
                                        for name in ("src.png", "dst.png", "dst.npy"))
        with atomic_path(src_path) as src_tmp, atomic_path(dst_path) as dst_tmp, atomic_path(npy_path) as npy_tmp:
            src.save(src_tmp, format="PNG")
            Image.fromarray(dst).save(dst_tmp, format="PNG")
            np.save(npy_tmp, latent)
        return np.asarray(src), dst, latent

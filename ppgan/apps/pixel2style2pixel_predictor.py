"""Invert a face photo into StyleGAN2's W+ with pSp: align, encode, render."""
import functools
import os
import sys

import numpy as np
import paddle
from PIL import Image
from tqdm import tqdm

from ..faceutils import FaceAligner
from ..models.generators.fast_synthesis import SynthesisProgram
from ..models.generators.generator_pixel2style2pixel import INPUT_SIZE
from ..models.loading import load_psp
from ..models.zoo import model_spec
from ..utils.fileio import atomic_files, check_output_files, check_writable_dir
from ..utils.image import to_uint8

class Pixel2Style2PixelPredictor:
    """Holds the face aligner and a pSp model; ``run(photo)`` inverts the photo's largest face.

    ``run`` writes to ``output_path``: ``src.png`` (the aligned 256x256 input),
    ``dst.png`` (the reconstruction at the decoder's resolution, as PaddleGAN
    saves it, rendered with the generator's saved noise) and ``dst.npy`` (W+
    float32 [n_latent, style_dim], latent_avg included: the input of
    ``styleganv2clip.py --latent``). The model: ``spec`` (a ``ModelSpec`` of kind
    psp) or PaddleGAN's keyword arguments turned into one; decoder flags must agree
    with the file (see ``ppgan.models.loading.load_psp``). The landmark model loads
    at once; the pSp weights (downloaded if needed) when the first face is found.
    """

    def __init__(self, output_path="output_dir", weight_path=None, model_type=None, seed=None, size=None,
                 style_dim=None, n_mlp=None, channel_multiplier=None, channels=None, landmark_model=None,
                 weight_flag="--weight_path", config=None, spec=None):
        self.output_path = output_path
        self.seed = seed  # PaddleGAN's argument; the inversion is deterministic (saved noise), nothing draws from it
        self.spec = spec or model_spec("psp", model_type, weight_path, config, size, style_dim, n_mlp,
                                       channel_multiplier, channels, weight_flag)
        self.aligner = FaceAligner(landmark_model)

    @functools.cached_property
    def model(self):
        """The Pixel2Style2Pixel, loaded on first use."""
        return load_psp(self.spec)

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
        paths = [os.path.join(self.output_path, name) for name in ("src.png", "dst.png", "dst.npy")]
        check_writable_dir(self.output_path)
        check_output_files(paths)
        src = self.align(image)  # before the bar: a photo without a face is one line
        with tqdm(total=2, desc="pSp", unit="step", file=sys.stderr) as bar:
            bar.set_postfix_str("encoding")
            latent = self.encode(src)
            bar.update()
            bar.set_postfix_str("rendering")
            dst = self.render(latent)
            bar.update()
        with atomic_files(self.output_path, "--output_path") as staged:
            src.save(staged.path(paths[0]), format="PNG")
            Image.fromarray(dst).save(staged.path(paths[1]), format="PNG")
            np.save(staged.path(paths[2]), latent)
        return np.asarray(src), dst, latent

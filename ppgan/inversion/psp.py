"""pSp inversion: a face photo -> its largest face FFHQ-aligned at 256 px -> W+ (IR-SE-50 encoder + latent_avg).

``PspEncoder`` holds the face aligner (dlib, loaded at once) and the pSp model (loaded
on first use, after the photo was checked); it encodes aligned faces and renders W+
with the decoder's saved noise.
"""
import functools

import numpy as np
import paddle
from PIL import Image

from ..faceutils import FaceAligner, load_rgb
from ..models.generators.fast_synthesis import SynthesisProgram
from ..models.generators.generator_pixel2style2pixel import INPUT_SIZE
from ..models.loading import load_psp
from ..utils.image import to_uint8


class PspEncoder:
    """Face aligner + pSp model (``spec``: a ``ModelSpec`` of kind psp); see the module docstring."""

    def __init__(self, spec, landmark_model=None):
        self.spec = spec
        self.aligner = FaceAligner(landmark_model)

    @functools.cached_property
    def model(self):
        """The Pixel2Style2Pixel, loaded on first use."""
        return load_psp(self.spec)

    @functools.cached_property
    def synthesis(self):
        """The decoder's synthesis network as a (compiled on CPU) ``SynthesisProgram``."""
        return SynthesisProgram(self.model.decoder)

    def align(self, image, align=True):
        """Photo (path, PIL image or uint8 RGB array) -> its largest face, FFHQ-aligned, 256x256 RGB PIL image.

        ``align=False``: the photo is an FFHQ-aligned crop already; it is only resized to 256 x 256 with
        PIL bilinear, as pSp's and e4e's own transforms do.
        """
        if not align:
            return load_rgb(image).resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR)
        return self.aligner(image, INPUT_SIZE).image

    def encode(self, aligned):
        """Aligned 256x256 RGB PIL image -> W+ float32 [n_latent, style_dim] (numpy)."""
        pixels = np.asarray(aligned, dtype=np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0
        with paddle.no_grad():
            return self.model.encode(paddle.to_tensor(pixels))[0].numpy()

    def invert(self, image):
        """Photo -> W+ float32 [n_latent, style_dim] of its largest face, without writing anything."""
        return self.encode(self.align(image))

    def render(self, latent):
        """W+ [n_latent, style_dim] -> uint8 image [size, size, 3], saved noise."""
        with paddle.no_grad():
            styles = self.model.decoder.style_affine(paddle.to_tensor(latent[None]))
        return to_uint8(self.synthesis(styles))[0]

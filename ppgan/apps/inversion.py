"""Photo -> W+: the one inverter the edit command and the page share.

FFHQ alignment of every face (largest first), pSp encoding, and a check that
the W+ fits the generator it will be edited with.
"""
import collections
import functools
import os

import numpy as np

from ..faceutils import load_rgb
from ..models.generators.generator_pixel2style2pixel import INPUT_SIZE
from ..models.zoo import model_spec
from ..utils.errors import UserError
from .pixel2style2pixel_predictor import Pixel2Style2PixelPredictor

InvertedPhoto = collections.namedtuple("InvertedPhoto", "photo faces latents")
InvertedPhoto.__doc__ = ("A photo's faces in W+: photo (upright RGB PIL image), faces (list of AlignedFace, "
                         "256 px crops, largest first), latents (float32 [N, n_latent, style_dim]).")


class PhotoInverter:
    """Aligns a photo's faces and inverts them into W+ with pSp (models loaded on first use).

    The pSp model: ``spec`` (a ``ModelSpec`` of kind psp, e.g. from
    ``styleganv2clip_predictor.psp_spec``), else ``psp_weight_path`` or the released one.
    ``latent_shape``: (n_latent, style_dim) of the generator the latents are for;
    a pSp model made for another generator is refused in one line.
    """

    def __init__(self, psp_weight_path=None, landmark_model=None, latent_shape=None, weight_flag="--psp_weight_path",
                 spec=None):
        self.landmark_model = landmark_model
        self.spec = spec or model_spec("psp", weight_path=psp_weight_path, weight_flag=weight_flag)
        self.weight_flag = self.spec.weight_flag
        self.latent_shape = None if latent_shape is None else tuple(latent_shape)

    @functools.cached_property
    def psp(self):
        """The ``Pixel2Style2PixelPredictor`` (landmark model loaded on first use, pSp weights on first encode)."""
        return Pixel2Style2PixelPredictor(landmark_model=self.landmark_model, spec=self.spec)

    def align(self, photo, max_faces=1, name=None):
        """Every face of a photo (path, PIL image or uint8 array) as 256 px ``AlignedFace``, largest first.

        More faces than ``max_faces``, no face, or a face too small: ``UserError``.
        """
        return self.psp.aligner.align_faces(photo, INPUT_SIZE, max_faces, name=name)

    def encode(self, faces):
        """``AlignedFace`` list -> W+ float32 [N, n_latent, style_dim], checked against ``latent_shape``."""
        latents = np.stack([self.psp.encode(face.image) for face in faces]).astype(np.float32)
        if self.latent_shape is not None and latents.shape[1:] != self.latent_shape:
            raise UserError(f"the pSp model gives W+ {list(latents.shape[1:])} but the generator takes "
                            f"{list(self.latent_shape)}; pass a pSp model made for this generator with "
                            f"{self.weight_flag}")
        return latents

    def invert(self, photo, max_faces=1):
        """Photo (path, PIL image or uint8 array) -> ``InvertedPhoto`` (all its faces, largest first)."""
        name = os.fspath(photo) if isinstance(photo, (str, os.PathLike)) else None
        image = load_rgb(photo)
        faces = self.align(image, max_faces, name)
        return InvertedPhoto(image, faces, self.encode(faces))

    def __call__(self, photo):
        """W+ float32 [n_latent, style_dim] of the largest face of a photo (other faces ignored)."""
        faces = self.psp.aligner.align_faces(photo, INPUT_SIZE, max_faces=1, extra_faces="ignore")
        return self.encode(faces)[0]

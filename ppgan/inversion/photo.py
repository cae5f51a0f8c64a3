"""Photo -> W+: the one inverter the edit command and the page share.

FFHQ alignment of every face (largest first), pSp encoding, a check that the W+
fits the generator it will be edited with, then optionally ``refine_steps`` of
fitting (every W+ row, against the face aligned at the generator's size).
"""
import collections
import functools
import os

import numpy as np

from ..faceutils import ffhq_quad, load_rgb, warp_quad
from ..models.generators.generator_pixel2style2pixel import INPUT_SIZE
from ..models.zoo import model_spec
from ..utils.errors import UserError
from .fitting import image_to_target
from .psp import PspEncoder

InvertedPhoto = collections.namedtuple("InvertedPhoto", "photo faces latents")
InvertedPhoto.__doc__ = ("A photo's faces in W+: photo (upright RGB PIL image), faces (list of AlignedFace, "
                         "256 px crops, largest first), latents (float32 [N, n_latent, style_dim]).")


class PhotoInverter:
    """Aligns a photo's faces and inverts them into W+ with pSp (models loaded on first use).

    The pSp model: ``spec`` (a ``ModelSpec`` of kind psp, e.g. from
    ``styleganv2clip_predictor.psp_spec``), else ``psp_weight_path`` or the released one.
    ``latent_shape``: (n_latent, style_dim) of the generator the latents are for;
    a pSp model made for another generator is refused in one line. ``fitter``: a
    ``LatentFitter`` of that generator, run for ``refine_steps`` from pSp's W+.
    """

    def __init__(self, psp_weight_path=None, landmark_model=None, latent_shape=None, spec=None, fitter=None,
                 refine_steps=0, generator_name="the generator"):
        self.landmark_model = landmark_model
        self.spec = spec or model_spec("psp", weight_path=psp_weight_path, weight_arg="{psp_weight_path}")
        self.generator_name = generator_name
        self.latent_shape = None if latent_shape is None else tuple(latent_shape)
        self.set_refinement(fitter, refine_steps)

    def set_refinement(self, fitter, refine_steps):
        """Fit ``refine_steps`` (0: none) with ``fitter`` (a ``LatentFitter``) after pSp."""
        if refine_steps < 0 or (refine_steps > 0 and fitter is None):
            raise UserError(f"{{refine_steps}} {refine_steps} must be 0 or more (with a generator to fit)")
        self.fitter, self.refine_steps = fitter, refine_steps

    @functools.cached_property
    def psp(self):
        """The ``PspEncoder`` (landmark model loaded on first use, pSp weights on first encode)."""
        return PspEncoder(self.spec, self.landmark_model)

    def align(self, photo, max_faces=1, name=None, extra_faces="error"):
        """Every face of a photo (path, PIL image or uint8 array) as 256 px ``AlignedFace``, largest first.

        No face, or a face too small: ``UserError``; more faces than ``max_faces``: see
        ``FaceAligner.align_faces`` (``extra_faces`` "error" or "ignore").
        """
        return self.psp.aligner.align_faces(photo, INPUT_SIZE, max_faces, extra_faces, name=name)

    def encode(self, faces):
        """``AlignedFace`` list -> W+ float32 [N, n_latent, style_dim], checked against ``latent_shape``."""
        latents = np.stack([self.psp.encode(face.image) for face in faces]).astype(np.float32)
        if self.latent_shape is not None and latents.shape[1:] != self.latent_shape:
            weights = self.spec.weights
            psp = weights if isinstance(weights, str) else f"the {getattr(weights, 'file', self.spec.name)} release"
            raise UserError(f"pSp file {psp} gives W+ {list(latents.shape[1:])} but {self.generator_name} takes "
                            f"{list(self.latent_shape)}; pass a pSp model made for this generator with "
                            f"{self.spec.weight_arg}, or the generator of that pSp file with {{weight_path}}")
        return latents

    def refine(self, image, faces, latents):
        """``refine_steps`` of fitting of W+ [N, n_latent, style_dim] to the faces of ``image`` (RGB PIL)."""
        if self.refine_steps == 0:
            return latents
        g = self.fitter.generator
        targets = np.concatenate([image_to_target(warp_quad(image, ffhq_quad(face.landmarks), g.size), g.size)
                                  for face in faces])
        return self.fitter.fit(targets, latents, range(g.n_latent), self.refine_steps)

    def latents(self, image, faces):
        """W+ float32 [N, n_latent, style_dim] of aligned faces of ``image``: pSp, then the refinement."""
        return self.refine(image, faces, self.encode(faces))

    def invert(self, photo, max_faces=1, extra_faces="error"):
        """Photo (path, PIL image or uint8 array) -> ``InvertedPhoto`` (its faces, largest first; see ``align``)."""
        name = os.fspath(photo) if isinstance(photo, (str, os.PathLike)) else None
        image = load_rgb(photo)
        faces = self.align(image, max_faces, name, extra_faces)
        return InvertedPhoto(image, faces, self.latents(image, faces))

    def __call__(self, photo):
        """W+ float32 [n_latent, style_dim] of the largest face of a photo (other faces ignored)."""
        return self.invert(photo, 1, "ignore").latents[0]

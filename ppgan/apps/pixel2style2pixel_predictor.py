"""PaddleGAN's pSp predictor: invert a face photo into StyleGAN2's W+ and write src.png, dst.png, dst.npy."""
import os
import sys

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..inversion.psp import PspEncoder
from ..models.zoo import model_spec
from ..utils.fileio import atomic_files, check_output_files, check_writable_dir


class Pixel2Style2PixelPredictor(PspEncoder):
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
                 config=None, spec=None):
        super().__init__(spec or model_spec("psp", model_type, weight_path, config, size, style_dim, n_mlp,
                                            channel_multiplier, channels), landmark_model)
        self.output_path = output_path
        self.seed = seed  # PaddleGAN's argument; the inversion is deterministic (saved noise), nothing draws from it

    def run(self, image, align=True):
        """Invert a photo and write src.png, dst.png and dst.npy (all or none); ``align=False``: the photo is
        an FFHQ-aligned crop already (see ``align``).

        Returns (aligned uint8 [256, 256, 3], reconstruction uint8 [size, size, 3], W+ [n_latent, style_dim]).
        """
        paths = [os.path.join(self.output_path, name) for name in ("src.png", "dst.png", "dst.npy")]
        check_writable_dir(self.output_path)
        check_output_files(paths)
        src = self.align(image, align)  # before the bar: a photo without a face is one line
        _ = self.model  # so are weights that cannot be found or read
        with tqdm(total=2, desc="pSp", unit="step", file=sys.stderr) as bar:
            bar.set_postfix_str("encoding")
            latent = self.encode(src)
            bar.update()
            bar.set_postfix_str("rendering")
            dst = self.render(latent)
            bar.update()
        with atomic_files(self.output_path, "{output_path}") as staged:
            src.save(staged.path(paths[0]), format="PNG")
            Image.fromarray(dst).save(staged.path(paths[1]), format="PNG")
            np.save(staged.path(paths[2]), latent)
        return np.asarray(src), dst, latent

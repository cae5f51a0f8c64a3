"""Sample faces from StyleGAN2 and save them as a grid."""
import os

import numpy as np
import paddle

from ..models.generators.fast_synthesis import SynthesisProgram
from ..models.loading import load_stylegan2
from ..models.zoo import model_spec
from ..utils.fileio import atomic_path, check_writable_dir
from ..utils.image import make_grid, save_png, to_uint8


RENDER_PIXELS = 1 << 20  # pixels per render batch: one 1024 px image (larger batches are not faster on CPUs)


class StyleGANv2Predictor:
    """Holds a StyleGAN2 generator; ``run`` samples a grid of faces.

    The model: ``spec`` (a ``ppgan.models.zoo.ModelSpec``), or PaddleGAN's keyword
    arguments (plus ``config``, a YAML file) turned into one; the architecture comes
    from the weights. Sampling is reproducible and follows the statistics step's
    order: one ``numpy.random.RandomState(seed)`` draws the truncation centre's z
    (``generator.truncation_centre``), then the faces' z.
    """

    def __init__(self, output_path="output_dir", weight_path=None, model_type=None, seed=None,
                 size=None, style_dim=None, n_mlp=None, channel_multiplier=None, channels=None, config=None,
                 spec=None):
        self.output_path = output_path
        self.seed = 0 if seed is None else seed
        self.spec = spec or model_spec("stylegan2", model_type, weight_path, config, size, style_dim, n_mlp,
                                       channel_multiplier, channels)
        self.generator = load_stylegan2(self.spec)
        self.synthesis = SynthesisProgram(self.generator)

    def sample_latents(self, num, truncation=0.7, seed=None):
        """W+ [num, n_latent, style_dim] of ``num`` faces drawn from ``seed`` (default: the predictor's)."""
        g = self.generator
        rng = np.random.RandomState(self.seed if seed is None else seed)
        w_centre = g.truncation_centre(rng, truncation)
        z = rng.randn(num, g.style_dim).astype("float32")
        with paddle.no_grad():
            w = g.get_latents(paddle.to_tensor(z), truncation, truncation_latent=w_centre)
        return w.unsqueeze(1).tile([1, g.n_latent, 1])

    def render_styles(self, styles, batch_size=None):
        """S codes (list of float32 numpy [M, C_l]) -> uint8 [M, size, size, 3], saved noise.

        Batches of ``batch_size`` codes; default: as many as fit in RENDER_PIXELS (1 at 1024 px, 16 at 256 px).
        """
        batch_size = batch_size or max(1, RENDER_PIXELS // self.generator.size ** 2)
        return np.concatenate([
            to_uint8(self.synthesis([paddle.to_tensor(s[start:start + batch_size]) for s in styles]))
            for start in range(0, len(styles[0]), batch_size)])

    def render(self, latents, batch_size=None):
        """W+ [N, n_latent, style_dim] (Tensor) -> uint8 [N, size, size, 3], saved noise."""
        with paddle.no_grad():
            styles = [s.numpy() for s in self.generator.style_affine(latents)]
        return self.render_styles(styles, batch_size)

    def run(self, n_row=3, n_col=5, truncation=0.7):
        """Write ``sample.png`` (n_row x n_col faces) and ``latents.npy`` (their W+); returns the PNG path."""
        check_writable_dir(self.output_path)
        latents = self.sample_latents(n_row * n_col, truncation)
        grid = make_grid(self.render(latents), n_row, n_col)
        png_path = os.path.join(self.output_path, "sample.png")
        with atomic_path(os.path.join(self.output_path, "latents.npy")) as tmp:
            np.save(tmp, latents.numpy())
            save_png(png_path, grid)
        return png_path

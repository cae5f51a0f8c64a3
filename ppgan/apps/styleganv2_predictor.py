"""Sample faces from StyleGAN2 and save them as a grid."""
import os
import sys

import numpy as np
import paddle
from tqdm import tqdm

from ..models.generators.fast_synthesis import SynthesisProgram
from ..models.loading import load_stylegan2
from ..models.zoo import model_spec
from ..utils.fileio import atomic_files, check_output_files, check_writable_dir
from ..utils.image import GridPNGWriter, to_uint8

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

    def sample_w(self, num, truncation=0.7, seed=None):
        """W float32 [num, style_dim] (Tensor) of ``num`` faces drawn from ``seed`` (default: the predictor's)."""
        g = self.generator
        rng = np.random.RandomState(self.seed if seed is None else seed)
        w_centre = g.truncation_centre(rng, truncation)
        z = rng.randn(num, g.style_dim).astype("float32")
        with paddle.no_grad():
            return g.get_latents(paddle.to_tensor(z), truncation, truncation_latent=w_centre)

    def sample_latents(self, num, truncation=0.7, seed=None):
        """W+ [num, n_latent, style_dim] (Tensor) of ``num`` faces drawn from ``seed`` (default: the predictor's)."""
        return self.sample_w(num, truncation, seed).unsqueeze(1).tile([1, self.generator.n_latent, 1])

    def render_styles(self, styles, batch_size=None, progress=None):
        """S codes (list of float32 numpy [M, C_l]) -> uint8 [M, size, size, 3], saved noise.

        Batches of ``batch_size`` codes; default: as many as fit in RENDER_PIXELS (1 at 1024 px, 16 at 256 px).
        ``progress(n)`` is called after each batch of n renders (Ctrl-C acts between batches).
        """
        batch_size = batch_size or max(1, RENDER_PIXELS // self.generator.size ** 2)
        images = []
        for start in range(0, len(styles[0]), batch_size):
            images.append(to_uint8(self.synthesis([paddle.to_tensor(s[start:start + batch_size]) for s in styles])))
            if progress is not None:
                progress(len(images[-1]))
        return np.concatenate(images)

    def render(self, latents, batch_size=None, progress=None):
        """W+ [N, n_latent, style_dim] (Tensor) -> uint8 [N, size, size, 3], saved noise."""
        with paddle.no_grad():
            styles = [s.numpy() for s in self.generator.style_affine(latents)]
        return self.render_styles(styles, batch_size, progress)

    def run(self, n_row=3, n_col=5, truncation=0.7):
        """Write ``sample.png`` (n_row x n_col faces) and ``latents.npy`` (their W+), both or neither.

        Renders and writes one grid row at a time, so a grid need not fit in memory.
        Returns the PNG path.
        """
        g = self.generator
        png_path = os.path.join(self.output_path, "sample.png")
        npy_path = os.path.join(self.output_path, "latents.npy")
        check_writable_dir(self.output_path)
        check_output_files([png_path, npy_path])
        w = self.sample_w(n_row * n_col, truncation)
        with atomic_files(self.output_path, "{output_path}") as staged, \
                open(staged.path(npy_path), "wb") as npy, \
                GridPNGWriter(staged.path(png_path), n_row, n_col, g.size, g.size) as grid, \
                tqdm(total=n_row * n_col, desc="sampling", unit="face", file=sys.stderr) as bar:
            np.lib.format.write_array_header_1_0(npy, {"descr": np.lib.format.dtype_to_descr(np.dtype("float32")),
                                                       "fortran_order": False,
                                                       "shape": (n_row * n_col, g.n_latent, g.style_dim)})
            for row in range(n_row):
                latents = w[row * n_col:(row + 1) * n_col].unsqueeze(1).tile([1, g.n_latent, 1])
                grid.write_row(self.render(latents, progress=bar.update))
                npy.write(np.ascontiguousarray(latents.numpy(), dtype=np.float32).tobytes())
        return png_path

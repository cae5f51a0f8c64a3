"""The page's model service: ``Editor`` (the predictor, the preview renderer, cached edit directions).

Text features and edit directions are cached, so moving a slider only renders: a
low-resolution preview while it moves (the image of the generator's skip path at
``preview_size``, with no work past that layer), the full resolution on release (or a pause in typing). Every
model call runs on one thread (``ppgan.utils.model_thread``).
"""
import functools

import paddle

from ..models.generators import StyleGANv2Generator
from ..models.generators.fast_synthesis import SynthesisProgram
from ..styleclip.edit import check_texts
from ..utils.errors import UserError
from ..utils.image import to_uint8
from ..utils.model_thread import shared_model_thread

PREVIEW_SIZE = 256
BETA_RANGE = (0.05, 0.4)  # the betas the page offers (its slider; the command line's --beta_threshold help)
DIRECTION_CACHE = 256


def preview_generator(generator, size):
    """The blocks of ``generator`` up to resolution ``size`` as a generator of their own, weights copied.

    Its output is the full generator's skip image after the toRGB layer at ``size``;
    its S code is the first ``len(channels_lst)`` entries of the full one.
    """
    if not 8 <= size < generator.size or size & (size - 1):
        raise UserError(f"preview size {size} is not a power of 2 from 8 to {generator.size // 2}")
    preview = StyleGANv2Generator(size, generator.style_dim, 0, channels=generator.channels)
    weights = generator.state_dict()
    preview.set_state_dict({key: weights[key] for key in preview.state_dict()})
    preview.eval()
    return preview


class Editor:
    """What every page session shares: the predictor, the preview renderer and cached edit directions.

    ``preview_size`` is capped at half the generator's resolution. ``eager`` picks the
    preview's synthesis path as ``SynthesisProgram`` does (None: Paddle Inference on CPU).
    Every model call runs on ``model_thread`` (default: the process's shared one), so the
    methods are safe to call from any number of threads at once.
    """

    def __init__(self, predictor, preview_size=PREVIEW_SIZE, eager=None, model_thread=None):
        self.predictor = predictor
        self.model_thread = model_thread or shared_model_thread()
        self.preview_size = min(preview_size, predictor.generator.size // 2)
        self.preview_program = self.model_thread.call(
            lambda: SynthesisProgram(preview_generator(predictor.generator, self.preview_size), eager=eager))
        self._cached_direction = functools.lru_cache(maxsize=DIRECTION_CACHE)(self._direction)

    def _direction(self, neutral, target, beta):
        check_texts(neutral, target, self.predictor.templates)
        return self.predictor.style_direction(self.predictor.text_direction.delta_t(neutral, target), beta)

    def direction(self, neutral, target, beta):
        """EditDirection of (neutral, target, beta or 'auto'), cached (CLIP runs once per text)."""
        return self.model_thread.call(self._cached_direction, neutral, target, beta)

    def styles(self, latent):
        """W+ [n_latent, style_dim] -> S code: list of float32 numpy [1, C_l]."""
        return self.model_thread.call(self._styles, latent)

    def _styles(self, latent):
        with paddle.no_grad():
            return [s.numpy() for s in self.predictor.generator.style_affine(paddle.to_tensor(latent[None]))]

    def render(self, styles, preview=False):
        """S code -> uint8 [R, R, 3]: R is the generator's size, or ``preview_size`` for a preview."""
        return self.model_thread.call(self._render, styles, preview)

    def _render(self, styles, preview):
        if not preview:
            return self.predictor.render_styles(styles)[0]
        program = self.preview_program
        return to_uint8(program([paddle.to_tensor(s) for s in styles[:program.generator.num_style_layers]]))[0]

    def seed_latent(self, seed):
        """W+ [n_latent, style_dim] of the face the edit command samples with ``--seed seed``."""
        return self.model_thread.call(lambda: self.predictor.sample_latents(1, seed=int(seed)).numpy()[0])

    def source_latent(self, path=None):
        """W+ [n_latent, style_dim] of the first face of a .npy file (see ``read_latents``), or of the
        predictor's seed."""
        return self.model_thread.call(lambda: self.predictor.source_latents(path)[0])

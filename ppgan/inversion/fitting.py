"""Optimisation-based inversion ("fitting"): find the W+ whose render matches a face image.

Adam on the chosen W+ rows, learning rate decaying exponentially from ``start_lr``
to ``final_lr`` over the steps, loss ``mse_weight * MSE + LPIPS`` (VGG16 LPIPS on
renders averaged down to at most 256 px; MSE alone when its weights cannot be
had), the generator's saved noise kept fixed.
"""
import sys

import numpy as np
import paddle
from PIL import Image
from tqdm import tqdm

from ..faceutils import FaceAligner, load_rgb
from ..metrics.lpips import load_lpips
from ..utils.errors import UserError

DEFAULT_LATENT_LEVEL = (0, 1, 2, 3, 4, 5)
LPIPS_SIZE = 256
MEAN_LATENT_SAMPLES = 4096


def learning_rate(step, steps, start_lr, final_lr):
    """Exponential decay: ``start_lr`` at step 0, ``final_lr`` at step ``steps - 1``."""
    if steps <= 1:
        return start_lr
    return start_lr * (final_lr / start_lr) ** (step / (steps - 1))


def check_fitting_options(n_latent, latent_level, steps, start_lr, final_lr, mse_weight):
    """UserError for options fitting cannot use; returns the sorted distinct W+ rows.

    ``n_latent``: the generator's W+ rows, or None before it is loaded (the rows' upper bound is then
    left to the check made once it is).
    """
    rows = sorted({int(row) for row in latent_level})
    if not rows or rows[0] < 0 or (n_latent is not None and rows[-1] >= n_latent):
        bound = "0 or more" if n_latent is None else f"between 0 and {n_latent - 1}"
        raise UserError(f"{{latent_level}} {list(latent_level)} must name W+ rows {bound}")
    if steps < 0:
        raise UserError(f"{{step}} {steps} is negative; pass the number of optimisation steps, e.g. 100")
    if not (start_lr > 0 and final_lr > 0 and np.isfinite(start_lr) and np.isfinite(final_lr)):
        raise UserError(f"learning rates {start_lr}, {final_lr} must be positive; e.g. {{start_lr}} 0.1 {{final_lr}} 0.025")
    if not (mse_weight >= 0 and np.isfinite(mse_weight)):
        raise UserError(f"{{mse_weight}} {mse_weight} must be a number >= 0")
    return rows


def downsample(images, size=LPIPS_SIZE):
    """[B, 3, H, H] -> [B, 3, size, size] by averaging H // size blocks (unchanged when H <= size)."""
    factor = images.shape[-1] // size
    return images if factor <= 1 else paddle.nn.functional.avg_pool2d(images, factor, factor)


class LatentFitter:
    """Fits W+ codes of a generator to target images (see the module docstring).

    ``lpips``: an LPIPS layer or None (MSE alone). The generator's parameters are frozen.
    """

    def __init__(self, generator, lpips=None):
        self.generator = generator
        self.lpips = lpips
        for param in generator.parameters():
            param.stop_gradient = True

    def losses(self, images, targets, mse_weight):
        """(total, mse, lpips or None) of renders against targets, [B, 3, H, W] in [-1, 1], summed over B."""
        mse = ((images - targets) ** 2).mean(axis=[1, 2, 3]).sum()
        if self.lpips is None:
            return mse * mse_weight, mse, None
        perceptual = self.lpips(downsample(images), downsample(targets)).sum()
        return mse * mse_weight + perceptual, mse, perceptual

    def fit(self, targets, initial, latent_level=DEFAULT_LATENT_LEVEL, steps=100, start_lr=0.1, final_lr=0.025,
            mse_weight=1.0, progress=True):
        """Fitted W+ float32 numpy [B, n_latent, style_dim].

        targets: float32 [B, 3, size, size] in [-1, 1] (numpy or Tensor); initial: W+ [B, n_latent, style_dim];
        only the rows in ``latent_level`` move.
        """
        g = self.generator
        rows = check_fitting_options(g.n_latent, latent_level, steps, start_lr, final_lr, mse_weight)
        targets = paddle.to_tensor(np.asarray(targets, dtype=np.float32))
        initial = np.asarray(initial, dtype=np.float32)
        mask_rows = np.zeros((1, g.n_latent, 1), np.float32)
        mask_rows[0, rows] = 1.0
        mask, fixed = paddle.to_tensor(mask_rows), paddle.to_tensor(initial)
        latent = paddle.create_parameter(list(initial.shape), "float32",
                                         default_initializer=paddle.nn.initializer.Assign(initial))
        optimizer = paddle.optimizer.Adam(learning_rate=start_lr, parameters=[latent])
        bar = tqdm(range(steps), desc="fitting", unit="step", file=sys.stderr, disable=not progress)
        for step in bar:
            optimizer.set_lr(learning_rate(step, steps, start_lr, final_lr))
            w_plus = latent * mask + fixed * (1.0 - mask)
            images = g.synthesis_from_styles(g.style_affine(w_plus))
            total, mse, perceptual = self.losses(images, targets, mse_weight)
            total.backward()
            optimizer.step()
            optimizer.clear_grad()
            shown = dict(mse=f"{float(mse):.4f}", lr=f"{optimizer.get_lr():.4f}")
            if perceptual is not None:
                shown["lpips"] = f"{float(perceptual):.4f}"
            bar.set_postfix(shown)
        return (latent * mask + fixed * (1.0 - mask)).numpy()


def build_fitter(generator, vgg_weight_path=None, lins_weight_path=None):
    """A ``LatentFitter`` with LPIPS when its weights can be had; otherwise MSE alone, said in one line on stderr."""
    lpips, reason = load_lpips(vgg_weight_path, lins_weight_path)
    if lpips is None:
        print(f"note: fitting with MSE alone: LPIPS weights unavailable ({reason})", file=sys.stderr)
    return LatentFitter(generator, lpips)


def image_to_target(image, size):
    """RGB PIL image -> float32 [1, 3, size, size] in [-1, 1] (resized with Lanczos when needed)."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    return (np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0)


def mean_wplus(generator, samples=MEAN_LATENT_SAMPLES):
    """The mean W of ``samples`` mapped z (seed 0), tiled: float32 [1, n_latent, style_dim]."""
    with paddle.no_grad():
        w = generator.mean_latent(samples, seed=0).numpy()
    return np.tile(w[:, None], (1, generator.n_latent, 1))


def fitting_target(image, size, need_align=False, landmark_model=None):
    """Photo (path, PIL image or uint8 array) -> RGB PIL image at ``size``: its largest face FFHQ-aligned
    (``need_align``) or the whole image resized."""
    if need_align:
        return FaceAligner(landmark_model)(image, size).image
    return load_rgb(image).resize((size, size), Image.Resampling.LANCZOS)


"""Generator output to pictures: uint8 conversion, grids and atomic PNG writes."""
import numpy as np
from PIL import Image

from .fileio import atomic_path


def to_uint8(images):
    """Images [N, 3, H, W] in [-1, 1] (paddle Tensor or numpy) -> uint8 [N, H, W, 3]."""
    array = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    array = np.clip((array + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return array.transpose(0, 2, 3, 1)


def make_grid(images, n_row, n_col):
    """uint8 [N, H, W, 3] with N = n_row * n_col -> one uint8 [n_row*H, n_col*W, 3] image."""
    n, height, width, channels = images.shape
    if n != n_row * n_col:
        raise ValueError(f"{n} images do not fill a {n_row} x {n_col} grid")
    grid = images.reshape(n_row, n_col, height, width, channels).transpose(0, 2, 1, 3, 4)
    return grid.reshape(n_row * height, n_col * width, channels)


def save_png(path, image):
    """Write uint8 [H, W, 3] to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")

"""Load any photo as an upright 8-bit RGB PIL image."""
import os
import sys

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..utils.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def load_rgb(image_or_path):
    """Return an upright RGB PIL image from a path, a PIL image or an [H,W,3] uint8 RGB array.

    EXIF orientation is applied; transparency is composited on white; palette,
    grayscale, CMYK and 16-bit images become 8-bit RGB. An unreadable path
    raises ``UserError`` naming the file. A file that loses something on the way (transparent
    pixels, the frames of an animation after the first) gets one ``note:`` line on stderr.
    """
    if isinstance(image_or_path, np.ndarray):
        return to_rgb(Image.fromarray(image_or_path))
    if isinstance(image_or_path, Image.Image):
        return to_rgb(ImageOps.exif_transpose(image_or_path))
    path = os.fspath(image_or_path)
    try:
        with Image.open(path) as img:
            img.load()
            _note_losses(path, img)
            return to_rgb(ImageOps.exif_transpose(img))
    except FileNotFoundError as exc:
        raise UserError(f"image {path} does not exist; check the path") from exc
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UserError(f"cannot read {path} as an image ({exc}); pass a JPEG or PNG photo") from exc


def _note_losses(path, img):
    """One stderr line per thing the RGB photo will not keep: transparency, animation frames after the first."""
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        print(f"note: {path} has {frames} frames; only the first is used", file=sys.stderr)
    if img.mode in ("RGBA", "LA", "PA", "P") or "transparency" in img.info:
        alpha = img.convert("RGBA").getchannel("A")
        if alpha.getextrema()[0] < 255:
            print(f"note: {path} has transparent pixels; they were filled with white", file=sys.stderr)


def collect_images(inputs, arg="{input_image}"):
    """Paths of photos: each input a file, or a folder standing for its image files (sorted, hidden ones skipped).

    A missing input or a folder without images raises ``UserError`` naming ``arg``.
    """
    photos = []
    for path in [inputs] if isinstance(inputs, (str, os.PathLike)) else inputs:
        path = os.fspath(path)
        if os.path.isdir(path):
            found = sorted(os.path.join(path, name) for name in os.listdir(path)
                           if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."))
            if not found:
                raise UserError(f"folder {path} has no image files ({', '.join(IMAGE_EXTENSIONS)}); "
                                "pass photos or a folder of photos")
            photos.extend(found)
        elif os.path.isfile(path):
            photos.append(path)
        else:
            raise UserError(f"input {path} does not exist; check {arg}")
    return photos


def to_rgb(img):
    """Convert a PIL image of any mode to 8-bit RGB (alpha composited on white)."""
    if img.mode in _SIXTEEN_BIT_MODES or img.mode in ("I", "F"):
        img = _high_depth_to_l(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _high_depth_to_l(img):
    """Scale a 16-bit, 32-bit integer or float single-channel image to 8-bit mode ``L``."""
    arr = np.asarray(img, dtype=np.float64)
    if img.mode in _SIXTEEN_BIT_MODES or (img.mode == "I" and arr.max(initial=0) > 255):
        top = 65535.0
    elif img.mode == "F" and arr.max(initial=0) <= 1.0:
        top = 1.0
    else:
        top = 255.0
    return Image.fromarray(np.uint8(np.clip(np.rint(arr * (255.0 / top)), 0, 255)), "L")

"""The files an edit writes: their names, the strip of strengths, the pasted photos, and writing them all or none.

Per face folder: ``src.editing.png``, ``dst.editing_{strength}.png``, ``dst.editing.png`` (the
last strength), ``dst.editing_strip.png`` (source, then every strength) and ``dst.editing.pd``
(the edited S code); for a photo, ``<stem>.edited_{strength}.png`` and ``<stem>.edited.png``.
A composed edit has one render, named by the composition (``ppgan.styleclip.compose``) instead of a
strength; a sweep adds its GIF and MP4 (``ppgan.styleclip.sweep``).
"""
import os
import shutil

import numpy as np
import paddle

from ..utils.fileio import atomic_files, check_output_files
from ..utils.image import make_grid, write_png

STRIP_TILE = 256
SRC_NAME = "src.editing.png"
DST_NAME = "dst.editing.png"
STRIP_NAME = "dst.editing_strip.png"
STYLES_NAME = "dst.editing.pd"


def render_label(strength):
    """How a render is named in file names: a strength as typed (5.0 -> '5'), a composition's name (a str) as is."""
    return strength if isinstance(strength, str) else f"{strength:g}"


def strength_file_name(strength):
    """File name of the render at ``strength``: 5.0 -> 'dst.editing_5.png', -0.5 -> 'dst.editing_-0.5.png'."""
    return f"dst.editing_{render_label(strength)}.png"


def photo_edit_names(stem, strengths):
    """Pasted-back photo names: ``<stem>.edited_{strength}.png`` per strength, then ``<stem>.edited.png``."""
    return [f"{stem}.edited_{render_label(strength)}.png" for strength in strengths] + [f"{stem}.edited.png"]


def photo_sweep_stem(folder, stem):
    """Path of a photo's sweep files without their extension: ``folder/<stem>.edited_sweep``."""
    return os.path.join(folder, f"{stem}.edited_sweep")


def photo_edit_files(folder, stem, strengths, pasted):
    """{path in ``folder``: pasted photo} for ``photo_edit_names``: pasted[k] (uint8 [H,W,3]) is the photo
    at strengths[k], and ``<stem>.edited.png`` the last one."""
    paths = [os.path.join(folder, name) for name in photo_edit_names(stem, strengths)]
    return dict(zip(paths, list(pasted) + [pasted[-1]]))


def strip_image(images, tile=STRIP_TILE):
    """uint8 [K, H, W, 3] -> one row uint8 [h, K*w, 3]; images over ``tile`` px high are box-averaged down to it.

    H and W are powers of two (the generator's size), so the factor H // tile is exact.
    """
    factor = max(1, images.shape[1] // tile)
    if factor > 1:
        k, height, width, channels = images.shape
        blocks = images.reshape(k, height // factor, factor, width // factor, factor, channels)
        images = blocks.mean(axis=(2, 4), dtype=np.float32).round().astype(np.uint8)
    return make_grid(images, 1, len(images))


def face_folders(output_path, num_faces):
    """Output folder of each face: ``output_path`` for one face, ``output_path/face_{i}`` for several."""
    if num_faces == 1:
        return [output_path]
    return [os.path.join(output_path, f"face_{i}") for i in range(num_faces)]


def output_files(folders, strengths):
    """Every file the edit writes for faces in ``folders`` at ``strengths``."""
    names = [SRC_NAME] + [strength_file_name(strength) for strength in strengths] + [DST_NAME, STRIP_NAME, STYLES_NAME]
    return [os.path.join(folder, name) for folder in folders for name in names]


def save_edit_files(folders, images, last_styles, strengths, photo_files=None, written=None):
    """Write every face's files, all or none (see ``atomic_files``).

    ``images``: uint8 [N, 1 + K, size, size, 3] (source, then each of the K ``strengths``) of the
    faces whose files go to ``folders``; ``last_styles``: the S code at the last strength, list of
    float32 [N, C_l] (saved per face as a list of [1, C_l] tensors); ``photo_files``:
    {path: uint8 [H, W, 3]} written in the same set (``photo_edit_files``); ``written``: {path: function
    writing that file to the path it is given} (the sweep's, ``sweep_files``), also in the set.
    """
    photo_files, written = photo_files or {}, written or {}
    check_output_files(output_files(folders, strengths) + list(photo_files) + list(written))
    root = os.path.commonpath([os.path.abspath(folder) for folder in
                               folders + [os.path.dirname(path) for path in [*photo_files, *written]]])
    with atomic_files(root, "{output_path}") as staged:
        for path, image in photo_files.items():
            write_png(staged.path(path), image)
        for path, write in written.items():
            write(staged.path(path))
        for face, (folder, face_images) in enumerate(zip(folders, images)):
            write_png(staged.path(os.path.join(folder, SRC_NAME)), face_images[0])
            for strength, image in zip(strengths, face_images[1:]):
                last = staged.path(os.path.join(folder, strength_file_name(strength)))
                write_png(last, image)
            shutil.copyfile(last, staged.path(os.path.join(folder, DST_NAME)))
            write_png(staged.path(os.path.join(folder, STRIP_NAME)), strip_image(face_images))
            paddle.save([paddle.to_tensor(s[face:face + 1]) for s in last_styles],
                        staged.path(os.path.join(folder, STYLES_NAME)))

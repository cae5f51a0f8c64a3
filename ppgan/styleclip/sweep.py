"""The strength sweep: an edit's renders from its smallest strength to its largest and back, as a GIF and an MP4.

``sweep_strengths`` picks the frames' strengths (a seamless loop: each end point once),
``sweep_frames`` burns a small strength label into each render (or pasted photo), and
``sweep_files`` names the two files and their writers for ``save_edit_files`` (written with the
edit's other files, all or none). The MP4 is H.264 in yuv420p (browsers play it), encoded by
``ppgan.utils.video.VideoWriter`` (the ffmpeg binary of the ``imageio-ffmpeg`` package).
"""
import collections
import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..utils.checks import check_int
from ..utils.errors import UserError
from ..utils.video import VideoWriter

SWEEP_FPS = 12
MAX_SWEEP_FRAMES = 1000
MAX_SWEEP_FPS = 60
STRENGTH_DECIMALS = 2  # frame strengths are rounded to this, so a label is the exact strength of its frame
SWEEP_NAME = "dst.editing_sweep"  # .gif and .mp4 in each face folder

Sweep = collections.namedtuple("Sweep", "frames fps labelled")
Sweep.__doc__ = "What a sweep writes: frames (N in all), fps (frames per second) and labelled (strength in a corner)."


def check_sweep(frames, fps=SWEEP_FPS, labelled=True):
    """A ``Sweep`` of ``frames`` (2 to MAX_SWEEP_FRAMES) at ``fps`` (1 to MAX_SWEEP_FPS), or UserError."""
    check_int("{sweep}", frames, 2, MAX_SWEEP_FRAMES)
    check_int("{sweep_fps}", fps, 1, MAX_SWEEP_FPS)
    return Sweep(int(frames), int(fps), bool(labelled))


def sweep_strengths(strengths, frames):
    """The N = ``frames`` strengths of a sweep over ``strengths``: tuple of floats.

    From the smallest strength up to the largest in N // 2 even steps, then down again in the
    other N - N // 2 steps, stopping one step short of the smallest: played in a loop, no end
    point shows twice in a row. With one strength the sweep goes from 0 to it. Each strength is
    rounded to STRENGTH_DECIMALS decimals (the label shows it exactly).
    """
    values = tuple(strengths) + ((0.0,) if len(strengths) == 1 else ())
    low, high = min(values), max(values)
    if low == high:
        raise UserError(f"{{sweep}} needs two different strengths to sweep between, and {{direction_offset}} "
                        f"gives only {low:g}; pass another strength with {{direction_offset}}")
    up, down = frames // 2, frames - frames // 2
    steps = [k / up for k in range(up + 1)] + [1 - k / down for k in range(1, down)]
    return tuple(round(low + (high - low) * step, STRENGTH_DECIMALS) + 0.0 for step in steps)


def strength_label(strength):
    """The label of a frame: 2.5 -> '+2.5', -1.0 -> '-1', 0.0 -> '+0'."""
    return f"{strength:+g}"


def label_frame(image, strength):
    """A copy of ``image`` (uint8 [H, W, 3]) with ``strength_label(strength)`` in its bottom-left corner.

    White text on a black box, PIL's default font at a twentieth of the image height (at least 10 px),
    the box ``margin`` (an eightieth of the height, at least 2 px) from the edges and around the text.
    """
    picture = Image.fromarray(image)
    height = image.shape[0]
    font = ImageFont.load_default(size=max(10, height // 20))
    margin = max(2, height // 80)
    draw = ImageDraw.Draw(picture)
    text = strength_label(strength)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x, y = 2 * margin - left, height - 2 * margin - bottom  # the text's box starts 2 margins from the edges
    draw.rectangle((margin, y + top - margin, x + right + margin, height - margin), fill=(0, 0, 0))
    draw.text((x, y), text, font=font, fill=(255, 255, 255))
    return np.asarray(picture)


def sweep_frames(renders, strengths, labelled=True):
    """The frames the sweep files encode: renders uint8 [N, H, W, 3] at ``strengths`` (N of them) -> uint8
    [N, H, W, 3], each labelled with its strength (``label_frame``) unless ``labelled`` is False."""
    if not labelled:
        return np.asarray(renders)
    return np.stack([label_frame(render, strength) for render, strength in zip(renders, strengths)])


def write_gif(path, frames, fps):
    """Write frames uint8 [N, H, W, 3] as a GIF looping forever, each shown 1 / ``fps`` s (rounded to 10 ms,
    GIF's unit); Pillow gives each frame its own palette."""
    first, *rest = [Image.fromarray(frame) for frame in frames]
    first.save(path, format="GIF", save_all=True, append_images=rest, loop=0, duration=round(1000 / fps, -1))


def write_mp4(path, frames, fps):
    """Write frames uint8 [N, H, W, 3] as H.264 yuv420p at ``fps`` (``ppgan.utils.video.VideoWriter``: an odd
    side is stored padded by one repeated pixel, its true size in the file's tag)."""
    with VideoWriter(path, fps, (frames.shape[2], frames.shape[1])) as writer:
        for frame in frames:
            writer.write(frame)


def sweep_paths(stems):
    """The sweep files of each path without extension in ``stems``: ``stem``.gif and ``stem``.mp4."""
    return [f"{stem}{extension}" for stem in stems for extension in (".gif", ".mp4")]


def sweep_files(stem, frames, fps):
    """{``stem``.gif: writer, ``stem``.mp4: writer} of frames uint8 [N, H, W, 3]; each writer takes the path to
    write (``save_edit_files`` hands it the staged one)."""
    gif, mp4 = sweep_paths([stem])
    return {gif: functools.partial(write_gif, frames=frames, fps=fps),
            mp4: functools.partial(write_mp4, frames=frames, fps=fps)}

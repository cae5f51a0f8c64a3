"""FFHQ face alignment: the crop StyleGAN's FFHQ faces (and pSp's inputs) were made with.

The oriented square ("quad") comes from the eyes and the mouth; the photo is
shrunk when the face is much larger than the output, cropped around the quad
with a border, reflect-padded (padding blurred and faded to the median colour)
where the quad leaves the photo, and the quad is resampled to the output square.
"""
import functools
import logging
import os
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from ..utils.errors import UserError
from .images import load_rgb
from .landmarks import LandmarkDetector

logger = logging.getLogger(__name__)


def ffhq_quad(landmarks):
    """FFHQ crop quad of 68 landmarks [68,2] (x, y).

    Returns float64 [4,2]: corners top-left, bottom-left, bottom-right,
    top-right of the output square, in the landmarks' pixel coordinates.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected 68 landmarks of shape [68, 2], got {list(lm.shape)}")
    eye_left = lm[36:42].mean(axis=0)
    eye_right = lm[42:48].mean(axis=0)
    mouth = (lm[48] + lm[54]) * 0.5
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    eye_to_mouth = mouth - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def quad_to_output(points, quad, output_size):
    """Map source pixel coordinates [N,2] to pixel coordinates [N,2] of the aligned image.

    The quad is a square, so the warp is affine: corner 0 goes to (0, 0),
    corner 3 to (size, 0) and corner 1 to (0, size) in continuous coordinates
    (pixel centres at +0.5); the result is in pixel-index coordinates.
    """
    quad = np.asarray(quad, dtype=np.float64)
    basis = np.stack([quad[3] - quad[0], quad[1] - quad[0]], axis=1)
    offsets = np.asarray(points, dtype=np.float64).reshape(-1, 2) - quad[0]
    return np.linalg.solve(basis, offsets.T).T * output_size - 0.5


def sampled_quad(image_size, quad, output_size):
    """The quad [4,2] that ``warp_quad`` really samples, in the photo's pixel coordinates.

    Equal to ``quad`` except after the shrink step, whose rounded image size
    scales the photo by slightly more or less than 1/shrink; crop and pad only
    translate. ``image_size``: (width, height) of the photo.
    """
    quad = np.array(quad, dtype=np.float64)
    shrink = _shrink_factor(np.hypot(*(quad[3] - quad[0])), output_size)
    if shrink <= 1:
        return quad
    scale = np.array(_shrunk_size(image_size, shrink), dtype=np.float64) / np.asarray(image_size, dtype=np.float64)
    return (quad / shrink + 0.5) / scale - 0.5


def warp_quad(image, quad, output_size=1024, supersample=None):
    """Resample the ``quad`` [4,2] of an RGB PIL image to an ``output_size`` square PIL image.

    The warp (bilinear) runs at ``supersample`` times the output size and is
    then downsized with Lanczos, as FFHQ did (4096 -> 1024). ``None`` picks the
    smallest factor (1..4) at which the warp does not skip source pixels.
    """
    quad = np.array(quad, dtype=np.float64)
    qsize = np.hypot(*(quad[3] - quad[0]))
    image, quad, qsize = _shrink(image, quad, qsize, output_size)
    border = max(int(np.rint(qsize * 0.1)), 3)
    image, quad = _crop(image, quad, border)
    image, quad = _pad(image, quad, qsize, border)
    if supersample is None:
        supersample = int(np.clip(np.ceil(qsize / output_size), 1, 4))
    transform_size = output_size * supersample
    out = image.transform((transform_size, transform_size), Image.Transform.QUAD,
                          (quad + 0.5).flatten(), Image.Resampling.BILINEAR)
    if transform_size != output_size:
        out = out.resize((output_size, output_size), Image.Resampling.LANCZOS)
    return out


def _shrink_factor(qsize, output_size):
    """Integer factor the photo is downsized by before the warp (over 1 when the quad is 4x the output)."""
    return int(np.floor(qsize / output_size * 0.5))


def _shrunk_size(image_size, shrink):
    return int(np.rint(image_size[0] / shrink)), int(np.rint(image_size[1] / shrink))


def _shrink(image, quad, qsize, output_size):
    """Downsize the photo by an integer factor when the quad is over 4x the output size."""
    shrink = _shrink_factor(qsize, output_size)
    if shrink <= 1:
        return image, quad, qsize
    return image.resize(_shrunk_size(image.size, shrink), Image.Resampling.LANCZOS), quad / shrink, qsize / shrink


def _crop(image, quad, border):
    """Crop the photo to the quad's bounding box plus ``border`` pixels (within the photo)."""
    left, top = np.floor(quad.min(axis=0)).astype(int)
    right, bottom = np.ceil(quad.max(axis=0)).astype(int)
    box = (max(left - border, 0), max(top - border, 0),
           min(right + border, image.width), min(bottom + border, image.height))
    if box[2] - box[0] < image.width or box[3] - box[1] < image.height:
        image = image.crop(box)
        quad = quad - box[:2]
    return image, quad


def _pad(image, quad, qsize, border):
    """Reflect-pad the photo where the quad (plus border) leaves it; blur and fade the padding."""
    left, top = np.floor(quad.min(axis=0)).astype(int)
    right, bottom = np.ceil(quad.max(axis=0)).astype(int)
    pad = np.array([max(border - left, 0), max(border - top, 0),
                    max(right - image.width + border, 0), max(bottom - image.height + border, 0)])
    if pad.max() <= border - 4:
        return image, quad
    pad = np.maximum(pad, int(np.rint(qsize * 0.3)))
    pixels = np.pad(np.float32(image), ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), "reflect")
    pixels = _soften_padding(pixels, pad, qsize)
    image = Image.fromarray(np.uint8(np.clip(np.rint(pixels), 0, 255)), "RGB")
    return image, quad + pad[:2]


def _soften_padding(pixels, pad, qsize):
    """Blur the padded float image [H,W,3] towards its edges, then fade it to the median colour.

    ``pad`` is (left, top, right, bottom); the mask grows from 0 at the photo's
    edge to 1 at the outer edge of the padding.
    """
    h, w, _ = pixels.shape
    y, x, _ = np.ogrid[:h, :w, :1]
    left, top, right, bottom = np.float32(pad)
    mask = np.maximum(1.0 - np.minimum(np.float32(x) / left, np.float32(w - 1 - x) / right),
                      1.0 - np.minimum(np.float32(y) / top, np.float32(h - 1 - y) / bottom), dtype=np.float32)
    blurred = _gaussian_blur(pixels, qsize * 0.02)
    pixels += (blurred - pixels) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    pixels += (np.median(pixels, axis=(0, 1)) - pixels) * np.clip(mask, 0.0, 1.0)
    return pixels


def _gaussian_blur(pixels, sigma):
    """Gaussian blur of a float image [H,W,3] with reflected edges.

    A wide blur is computed on a copy downsized so that sigma is about 4 pixels
    there, then resized back: within about one grey level of the full-size blur,
    and 20-90x faster for the sigmas of 10-40 pixels that large faces give.
    """
    factor = int(sigma // 4)
    if factor < 2:
        return cv2.GaussianBlur(pixels, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    h, w, _ = pixels.shape
    small = cv2.resize(pixels, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma / factor, sigmaY=sigma / factor, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


MIN_FACE_SIZE = 64


@dataclass
class AlignedFace:
    """An aligned face and where it came from.

    image: aligned RGB PIL image, output_size x output_size.
    landmarks: float64 [68,2], the face's landmarks in the (upright) source photo (None for a
        video frame, whose quad is smoothed over time: ``video_faces.aligned_frames``).
    quad: float64 [4,2], the photo quad mapped onto the output square (``sampled_quad``:
        corners top-left, bottom-left, bottom-right, top-right), in photo pixels.
    face_count: number of faces detected.
    index: rank of this face by detection box area, 0 = the largest.
    photo_size: (width, height) of the upright source photo.
    """
    image: Image.Image
    landmarks: np.ndarray
    quad: np.ndarray
    face_count: int
    index: int = 0
    photo_size: tuple = None

    def to_output(self, points):
        """Source-photo pixel coordinates [N,2] -> aligned-image pixel coordinates [N,2]."""
        return quad_to_output(points, self.quad, self.image.width)


class FaceAligner:
    """Detector and landmark model loaded once; ``aligner(photo)`` returns an ``AlignedFace``.

    ``landmark_model``: path of ``shape_predictor_68_face_landmarks.dat``
    (default: the copy installed by ``face-recognition-models``);
    ``supersample``: see ``warp_quad``.
    """

    def __init__(self, landmark_model=None, output_size=1024, supersample=None):
        self.detector = LandmarkDetector(landmark_model)
        self.output_size = output_size
        self.supersample = supersample

    def align(self, image_or_path, output_size=None):
        """Align the largest face of a photo (path, PIL image or [H,W,3] uint8 RGB array).

        Raises ``UserError`` if the photo cannot be read, has no face or its face is too small.
        """
        return self.align_faces(image_or_path, output_size, max_faces=1, extra_faces="ignore")[0]

    __call__ = align

    def align_faces(self, image_or_path, output_size=None, max_faces=None, extra_faces="error", name=None):
        """Align the faces of a photo, largest first: a list of ``AlignedFace``.

        ``max_faces``: at most that many (None: all); ``extra_faces``: with more faces
        than that, "error" raises ``UserError``, "ignore" aligns the largest ``max_faces``.
        Raises ``UserError`` if the photo cannot be read, has no face, or a face
        to align spans less than ``MIN_FACE_SIZE`` photo pixels; messages call the photo ``name``
        (default: its path, or "the image").
        """
        if name is None:
            name = os.fspath(image_or_path) if isinstance(image_or_path, (str, os.PathLike)) else "the image"
        image = load_rgb(image_or_path)
        all_landmarks = self.detector.faces(image, name)
        count = len(all_landmarks)
        if max_faces is not None and count > max_faces:
            if extra_faces == "error":
                raise UserError(f"{name} has {count} faces, more than {{max_faces}} {max_faces}; "
                                f"pass {{max_faces}} {count} to edit them all, or crop the photo")
            logger.info("%d faces found in %s; aligning the largest %d", count, name, max_faces)
            all_landmarks = all_landmarks[:max_faces]
        size = output_size or self.output_size
        faces = []
        for index, landmarks in enumerate(all_landmarks):
            quad = ffhq_quad(landmarks)
            side = float(np.hypot(*(quad[3] - quad[0])))
            if side < MIN_FACE_SIZE:
                raise UserError(f"face {index} of {name} is too small to align ({side:.0f} px across, "
                                f"at least {MIN_FACE_SIZE} needed); use a larger photo of the face")
            aligned = warp_quad(image, quad, size, self.supersample)
            faces.append(AlignedFace(aligned, landmarks, sampled_quad(image.size, quad, size), count, index,
                                     image.size))
        return faces


@functools.lru_cache(maxsize=2)
def _shared_aligner(landmark_model):
    return FaceAligner(landmark_model)


def align_face(image_or_path, output_size=1024, landmark_model=None):
    """Align the largest face of a photo to an FFHQ crop; returns an ``AlignedFace``.

    Uses a ``FaceAligner`` cached per landmark model; hold your own
    ``FaceAligner`` to control its lifetime.
    """
    return _shared_aligner(landmark_model)(image_or_path, output_size)

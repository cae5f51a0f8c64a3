"""CLIP's image preprocessing on tensors, equal to PIL's bit for bit, and PIL's own for reference.

CLIP's reference preprocessing goes through PIL: uint8 image -> ``Image.resize(BICUBIC)``
of the shorter side to 224 -> center crop 224 -> normalize (``pil_preprocess``).
``clip_preprocess`` does the same on a batch of generator outputs without leaving Paddle,
and equals PIL bit for bit (uint8 levels as ``ppgan.utils.image.to_uint8`` makes them).

PIL's 8-bit resize is two passes (horizontal, then vertical), each
``clip(floor((A @ levels + 2**21) / 2**22), 0, 255)`` with A PIL's integer fixed-point
filter coefficients (``pil_bicubic_matrix``) and levels integers 0..255. Splitting
``A = A_hi * 2**k + A_lo`` (``split_coefficients``) keeps every product and partial sum
of ``A_hi @ levels`` and ``A_lo @ levels`` an integer below 2**24, so float32 matrix
products compute both exactly in any summation order, and ``levels_from_split``
combines them exactly. The filters are banded (19 taps per output at 1024 -> 224):
the vertical pass multiplies gathered bands of rows; the horizontal pass is one
dense product. ``resample_plan`` caches the coefficients per (shape, device).
"""
import collections
import functools

import numpy as np
import paddle
from PIL import Image

INPUT_SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_PIL_PRECISION_BITS = 22  # fixed-point bits of PIL's 8-bit resampling coefficients
_PIL_HALF = 1 << (_PIL_PRECISION_BITS - 1)  # PIL's rounding offset
_FLOAT32_EXACT = 1 << 24  # float32 holds every integer of smaller magnitude
_MAX_LEVEL = 255
_BAND_ROWS = 32  # output rows per band of the vertical pass
_BICUBIC_A = -0.5
_BICUBIC_SUPPORT = 2.0


def _bicubic_kernel(x):
    """PIL's bicubic filter (a = -0.5), elementwise on a float64 array."""
    x = np.abs(x)
    a = _BICUBIC_A
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


@functools.lru_cache(maxsize=None)
def pil_bicubic_matrix(in_size, out_size):
    """PIL's antialiased bicubic resampling of one axis as an integer matrix.

    Returns int64 [out_size, in_size]: PIL's fixed-point coefficients, so that a pass
    of PIL's 8-bit resize is ``clip(floor((A @ x + 2**21) / 2**22), 0, 255)``.
    """
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = _BICUBIC_SUPPORT * filter_scale
    centers = (np.arange(out_size) + 0.5) * scale
    first = np.maximum(np.trunc(centers - support + 0.5), 0)
    stop = np.minimum(np.trunc(centers + support + 0.5), in_size)
    source = np.arange(in_size, dtype=np.float64)
    inside = (source >= first[:, None]) & (source < stop[:, None])
    taps = np.where(inside, _bicubic_kernel((source - centers[:, None] + 0.5) * (1.0 / filter_scale)), 0.0)
    total = np.cumsum(taps, axis=1)[:, -1:]
    taps = taps / np.where(total != 0.0, total, 1.0)
    fixed = taps * (1 << _PIL_PRECISION_BITS)
    matrix = np.trunc(np.where(fixed < 0, fixed - 0.5, fixed + 0.5)).astype(np.int64)
    matrix.flags.writeable = False  # shared by the cache
    return matrix


def resized_size(height, width, size=INPUT_SIZE):
    """(height, width) after scaling the shorter side to ``size`` (torchvision/paddle ``Resize(int)`` rule)."""
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


def center_crop_offsets(height, width, size=INPUT_SIZE):
    """(top, left) of the centered ``size`` x ``size`` crop of a height x width image."""
    return int(round((height - size) / 2.0)), int(round((width - size) / 2.0))


def quantize_to_levels(images):
    """Generator output [N,3,H,W] in [-1,1] -> float32 uint8 levels 0..255, exactly as ``ppgan.utils.image.to_uint8``.

    The same float32 operations: floor(clip((x + 1) * 127.5 + 0.5, 0, 255)), rounding ties up
    (``paddle.round`` would round them to even).
    """
    if images.dtype != paddle.float32:
        images = images.astype("float32")
    levels = paddle.scale(images, scale=127.5, bias=1.0, bias_after_scale=False)
    return levels.scale_(scale=1.0, bias=0.5).clip_(0.0, 255.0).floor_()


Split = collections.namedtuple("Split", "hi lo k")
Split.__doc__ = "Integer coefficients ``A = hi * 2**k + lo`` (hi, lo float32 arrays), exact in float32 products."


def split_coefficients(matrix):
    """Integer matrix A (rows = outputs) -> ``Split`` whose products with levels 0..255 are exact in float32.

    A split k is valid when every row has 255 * sum|A_hi| < 2**24 and
    255 * sum|A_lo| + 2**21 < 2**24: then every product and partial sum of ``A_hi @ x``
    and ``A_lo @ x`` (x integers 0..255), and ``A_lo @ x + 2**21``, are integers that
    float32 represents exactly, whatever the order of summation. k = 11 is tried first:
    with |A| < 2**22 both parts then also fit in 11 significant bits (TF32 GPU matmuls).
    """
    matrix = np.asarray(matrix, np.int64)
    for k in sorted(range(1, _PIL_PRECISION_BITS), key=lambda bits: abs(bits - 11)):
        hi = np.round(matrix / float(1 << k)).astype(np.int64)
        lo = matrix - hi * (1 << k)
        if (_MAX_LEVEL * np.abs(hi).sum(axis=-1).max(initial=0) < _FLOAT32_EXACT
                and _MAX_LEVEL * np.abs(lo).sum(axis=-1).max(initial=0) + _PIL_HALF < _FLOAT32_EXACT):
            return Split(hi.astype(np.float32), lo.astype(np.float32), k)
    raise ValueError("these resampling coefficients have no float32-exact split")


def levels_from_split(hi, lo, k):
    """PIL's rounding of ``A @ x`` from ``hi = A_hi @ x`` and ``lo = A_lo @ x`` (a ``Split``).

    ``clip(floor((hi * 2**k + lo + 2**21) / 2**22), 0, 255)``, computed exactly in float32 as
    ``floor((hi + floor((lo + 2**21) / 2**k)) / 2**(22 - k))``: every intermediate is an
    integer below 2**24 or its exact scaling by a power of two.
    """
    carry = paddle.floor(paddle.scale(lo, scale=2.0 ** -k, bias=float(_PIL_HALF), bias_after_scale=False))
    return paddle.floor(paddle.scale(hi + carry, scale=2.0 ** (k - _PIL_PRECISION_BITS))).clip(0.0, 255.0)


def dense_pass(levels, split):
    """One PIL pass over the last axis: levels [..., n_in] and a ``Split`` of A [n_out, n_in] (hi, lo as
    tensors) -> [..., n_out]."""
    def product(part):
        return paddle.matmul(levels, part, transpose_y=True)
    return levels_from_split(product(split.hi), product(split.lo), split.k)


def cropped_matrix(in_size, resized, offset, size):
    """Rows [offset, offset + size) of ``pil_bicubic_matrix(in_size, resized)``: resize, then crop."""
    return pil_bicubic_matrix(in_size, resized)[offset:offset + size]


def column_split(in_size, resized, offset, size):
    """``Split`` of ``cropped_matrix`` (the dense horizontal pass)."""
    return split_coefficients(cropped_matrix(in_size, resized, offset, size))


Bands = collections.namedtuple("Bands", "index split size")
Bands.__doc__ = ("A resampling matrix [size, n_in] in bands of ``_BAND_ROWS`` output rows: band b reads the "
                 "inputs ``index[b*w:(b+1)*w]`` with the coefficients split.hi[b], split.lo[b] [rows, w].")


def band_plan(in_size, resized, offset, size):
    """``Bands`` of ``cropped_matrix(in_size, resized, offset, size)`` (the vertical pass)."""
    count = -(-size // _BAND_ROWS)
    bands = np.zeros((count * _BAND_ROWS, in_size), np.int64)
    bands[:size] = cropped_matrix(in_size, resized, offset, size)
    bands = bands.reshape(count, _BAND_ROWS, in_size)
    used = bands.any(axis=1)  # [count, in_size]
    first = np.argmax(used, axis=1)
    last = in_size - 1 - np.argmax(used[:, ::-1], axis=1)
    width = int((last - first).max()) + 1
    starts = np.minimum(first, in_size - width)
    index = (starts[:, None] + np.arange(width)).ravel()
    weights = np.stack([band[:, start:start + width] for band, start in zip(bands, starts)])
    return Bands(index, split_coefficients(weights), size)


def vertical_pass(levels, bands):
    """One PIL pass over the second-to-last axis: levels [B, n_in, C] and ``Bands`` (index, hi, lo as tensors)
    -> [B, size, C], band by band."""
    batch, _, columns = levels.shape
    count, rows, width = bands.split.hi.shape
    gathered = paddle.gather(levels, bands.index, axis=1).reshape([batch, count, width, columns])
    hi, lo = (paddle.matmul(part, gathered) for part in bands.split[:2])
    out = levels_from_split(hi, lo, bands.split.k).reshape([batch, count * rows, columns])
    return out if count * rows == bands.size else out[:, :bands.size]


def _split_tensors(split):
    return split._replace(hi=paddle.to_tensor(split.hi), lo=paddle.to_tensor(split.lo))


@functools.lru_cache(maxsize=None)
def resample_plan(height, width, size, device):
    """(column ``Split``, row ``Bands``) of ``resample`` for [H, W] levels, as tensors made on ``device``.

    Made once per (shape, device): a GPU receives the coefficients once, not with every batch.
    """
    out_h, out_w = resized_size(height, width, size)
    top, left = center_crop_offsets(out_h, out_w, size)
    bands = band_plan(height, out_h, top, size)
    return (_split_tensors(column_split(width, out_w, left, size)),
            bands._replace(index=paddle.to_tensor(bands.index), split=_split_tensors(bands.split)))


def resample(levels, size=INPUT_SIZE):
    """PIL's bicubic resize of the shorter side to ``size`` and center crop: levels [B, H, W] -> [B, size, size]."""
    _, height, width = levels.shape
    columns, rows = resample_plan(height, width, size, paddle.get_device())
    return vertical_pass(dense_pass(levels, columns), rows)


def divide(x, divisor):
    """``x / divisor`` for a float ``divisor``, correctly rounded in float32 on every Paddle version.

    Paddle 2.6 computes ``tensor / python_float`` as a multiplication by the float32
    reciprocal, up to 1 ulp off a true division (and off PIL's reference pipeline);
    a 0-d tensor divisor makes it a true division on 2.6 and 3.x alike.
    """
    return paddle.divide(x, paddle.full([], divisor, dtype=x.dtype))


def normalize_for_clip(unit_images):
    """Images [N,3,H,W] in [0,1] -> CLIP-normalized (per-channel mean/std).

    Channel by channel with scalars: Paddle's broadcasting kernels over [1,3,1,1] are ten
    times slower.
    """
    channels = [divide(unit_images[:, c] - mean, std) for c, (mean, std) in enumerate(zip(CLIP_MEAN, CLIP_STD))]
    return paddle.stack(channels, axis=1)


@paddle.no_grad()
def clip_preprocess(images, size=INPUT_SIZE):
    """Generator output [N,3,H,W] in [-1,1] -> CLIP input float32 [N,3,size,size], exactly as PIL makes it.

    uint8 quantisation, PIL's antialiased bicubic resize of the shorter side to ``size``
    (horizontal pass, then vertical, each rounded to uint8 levels), center crop and
    normalization; float32 throughout, exact (see the module docstring).
    """
    batch, channels, height, width = images.shape
    levels = resample(quantize_to_levels(images).reshape([batch * channels, height, width]), size)
    return normalize_for_clip(divide(levels.reshape([batch, channels, size, size]), 255.0))


def pil_preprocess(image, size=INPUT_SIZE):
    """CLIP's reference preprocessing through PIL: uint8 [H,W,3] -> float32 numpy [3,size,size]."""
    height, width = image.shape[:2]
    out_h, out_w = resized_size(height, width, size)
    resized = np.asarray(Image.fromarray(image).resize((out_w, out_h), Image.BICUBIC))
    top, left = center_crop_offsets(out_h, out_w, size)
    crop = resized[top:top + size, left:left + size].astype(np.float32) / 255.0
    normalized = (crop - np.array(CLIP_MEAN, np.float32)) / np.array(CLIP_STD, np.float32)
    return normalized.transpose(2, 0, 1)

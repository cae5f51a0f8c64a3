"""CLIP ViT-B/32 (PyPI ``paddleclip``) behind strict weight loading, with CLIP's preprocessing on tensors.

CLIP's reference preprocessing goes through PIL: uint8 image -> ``Image.resize(BICUBIC)``
of the shorter side to 224 -> center crop 224 -> normalize. ``clip_preprocess`` does
the same on a batch of generator outputs without leaving Paddle: the antialiased
bicubic resize is two matrix products ``A_h @ img @ A_w^T`` whose rows are PIL's own
fixed-point filter coefficients, and every pass rounds to uint8 levels as PIL does.
Computed in float64 (the default) the result equals PIL's bit for bit; float32 is
twice as fast and about 0.15% of the values differ by one uint8 level.
"""
import functools

import clip
import numpy as np
import paddle
from PIL import Image

from ..utils.download import resolve_weights
from ..utils.errors import UserError

CLIP_WEIGHTS = "ViT-B-32"
WEIGHT_FLAG = "--clip_weight_path"
INPUT_SIZE = 224
CONTEXT_LENGTH = 77
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_PIL_PRECISION_BITS = 22  # fixed-point bits of PIL's 8-bit resampling coefficients
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
    return np.trunc(np.where(fixed < 0, fixed - 0.5, fixed + 0.5)).astype(np.int64)


def resized_size(height, width, size=INPUT_SIZE):
    """(height, width) after scaling the shorter side to ``size`` (torchvision/paddle ``Resize(int)`` rule)."""
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


def center_crop_offsets(height, width, size=INPUT_SIZE):
    """(top, left) of the centered ``size`` x ``size`` crop of a height x width image."""
    return int(round((height - size) / 2.0)), int(round((width - size) / 2.0))


def quantize_to_levels(images):
    """Generator output [N,3,H,W] in [-1,1] -> float32 uint8 levels 0..255 (clamp, scale, round)."""
    return paddle.round((images.astype("float32").clip(-1.0, 1.0) + 1.0) * 127.5)


def _resample_pass(levels, matrix, axis_last):
    """One PIL 8-bit pass over the last (``axis_last``) or second-to-last axis of ``levels``."""
    out = paddle.matmul(levels, matrix, transpose_y=True) if axis_last else paddle.matmul(matrix, levels)
    half = float(1 << (_PIL_PRECISION_BITS - 1))
    return paddle.floor((out + half) / float(1 << _PIL_PRECISION_BITS)).clip(0.0, 255.0)


def _crop_matrices(height, width, size, dtype):
    """Row-cropped resampling matrices (A_h [size,H], A_w [size,W]) as Paddle tensors of ``dtype``."""
    out_h, out_w = resized_size(height, width, size)
    top, left = center_crop_offsets(out_h, out_w, size)
    rows = pil_bicubic_matrix(height, out_h)[top:top + size]
    cols = pil_bicubic_matrix(width, out_w)[left:left + size]
    return paddle.to_tensor(rows, dtype=dtype), paddle.to_tensor(cols, dtype=dtype)


def normalize_for_clip(unit_images):
    """Images [N,3,H,W] in [0,1] -> CLIP-normalized (per-channel mean/std)."""
    mean = paddle.to_tensor(CLIP_MEAN, dtype=unit_images.dtype).reshape([1, 3, 1, 1])
    std = paddle.to_tensor(CLIP_STD, dtype=unit_images.dtype).reshape([1, 3, 1, 1])
    return (unit_images - mean) / std


def clip_preprocess(images, size=INPUT_SIZE, dtype="float64"):
    """Generator output [N,3,H,W] in [-1,1] -> CLIP input [N,3,size,size], as PIL would make it.

    uint8 quantisation, PIL's antialiased bicubic resize of the shorter side to ``size``
    (horizontal pass, then vertical, each rounded to uint8 levels), center crop and
    normalization. ``dtype`` is the resampling precision: float64 gives PIL's levels
    exactly, float32 is twice as fast (and half the memory) with rare one-level differences.
    """
    height, width = images.shape[2], images.shape[3]
    rows, cols = _crop_matrices(height, width, size, dtype)
    levels = quantize_to_levels(images).astype(dtype)
    levels = _resample_pass(levels, cols, axis_last=True)
    levels = _resample_pass(levels, rows, axis_last=False)
    return normalize_for_clip(levels.astype("float32") / 255.0)


def pil_preprocess(image, size=INPUT_SIZE):
    """CLIP's reference preprocessing through PIL: uint8 [H,W,3] -> float32 numpy [3,size,size]."""
    height, width = image.shape[:2]
    out_h, out_w = resized_size(height, width, size)
    resized = np.asarray(Image.fromarray(image).resize((out_w, out_h), Image.BICUBIC))
    top, left = center_crop_offsets(out_h, out_w, size)
    crop = resized[top:top + size, left:left + size].astype(np.float32) / 255.0
    normalized = (crop - np.array(CLIP_MEAN, np.float32)) / np.array(CLIP_STD, np.float32)
    return normalized.transpose(2, 0, 1)


def tokenize(texts):
    """Texts -> (tokens int64 [N, L], end-of-text index int64 [N]); L is the longest prompt, at most 77.

    Raises UserError for an empty text or one longer than CLIP's 77-token context.
    """
    start, end = clip.tokenizer.encoder["<|startoftext|>"], clip.tokenizer.encoder["<|endoftext|>"]
    sequences = []
    for text in texts:
        if not text.strip():
            raise UserError("empty text: CLIP needs a description in words; pass a non-empty text")
        sequence = [start] + clip.tokenizer.encode(text) + [end]
        if len(sequence) > CONTEXT_LENGTH:
            raise UserError(f"text {text!r} is {len(sequence)} CLIP tokens, more than the {CONTEXT_LENGTH} "
                            "CLIP reads; shorten it")
        sequences.append(sequence)
    length = max(len(sequence) for sequence in sequences)
    tokens = np.zeros((len(sequences), length), np.int64)
    for row, sequence in enumerate(sequences):
        tokens[row, :len(sequence)] = sequence
    return tokens, np.array([len(sequence) - 1 for sequence in sequences], np.int64)


def build_clip_model():
    """paddleclip's ViT-B/32 with random weights, in eval mode. Never touches ``./pretrained_models``."""
    model, _ = clip.load_model("ViT_B_32", pretrained=False)
    return model


def state_dict_problems(model, state_dict):
    """Keys of ``model`` missing from ``state_dict`` or of the wrong shape, as readable strings."""
    problems = []
    for key, param in model.state_dict().items():
        if key not in state_dict:
            problems.append(f"missing {key}")
        elif list(state_dict[key].shape) != list(param.shape):
            problems.append(f"{key} has shape {list(state_dict[key].shape)}, expected {list(param.shape)}")
    return problems


def load_clip_weights(model, path):
    """Load a ViT-B/32 state dict file into ``model``; missing or mis-shaped keys raise UserError. Extra keys are ignored."""
    try:
        state_dict = paddle.load(path)
    except Exception as exc:
        raise UserError(f"cannot read CLIP weights {path} ({type(exc).__name__}: {exc}); "
                        f"pass a ViT-B-32 .pdparams file with {WEIGHT_FLAG}") from exc
    if not isinstance(state_dict, dict):
        raise UserError(f"{path} holds a {type(state_dict).__name__}, not a state dict; "
                        f"pass a ViT-B-32 .pdparams file with {WEIGHT_FLAG}")
    problems = state_dict_problems(model, state_dict)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise UserError(f"{path} is not a CLIP ViT-B/32 state dict ({shown}); "
                        f"pass the ViT-B-32 .pdparams file with {WEIGHT_FLAG}")
    model.set_state_dict({key: state_dict[key] for key in model.state_dict()})


def save_random_clip_weights(path, seed=0):
    """Write a randomly initialised ViT-B/32 state dict (about 605 MB) to ``path``. Reseeds Paddle's RNG."""
    paddle.seed(seed)
    paddle.save(build_clip_model().state_dict(), path)


class ClipEncoder:
    """CLIP ViT-B/32 text and image encoder (inference only; outputs are unnormalized).

    ``ClipEncoder(weight_path)`` loads that file, ``ClipEncoder()`` resolves the released
    'ViT-B-32' weights (cache or download), ``ClipEncoder(random_init=True)`` keeps the
    random initialisation (tests and benchmarks).
    """

    def __init__(self, weight_path=None, random_init=False):
        if random_init and weight_path is not None:
            raise ValueError("pass either weight_path or random_init=True, not both")
        path = None if random_init else resolve_weights(CLIP_WEIGHTS, weight_path, flag=WEIGHT_FLAG)
        self.model = build_clip_model()
        if path is not None:
            load_clip_weights(self.model, path)

    @paddle.no_grad()
    def encode_text(self, texts):
        """Texts (list of N str) -> text embeddings float32 Tensor [N,512], in one batch.

        Encodes only up to the longest prompt instead of all 77 positions: with CLIP's
        causal mask the end-of-text feature does not depend on the padding after it.
        """
        tokens, end_index = tokenize(texts)
        model = self.model
        length = tokens.shape[1]
        hidden = model.token_embedding(paddle.to_tensor(tokens)) + model.positional_embedding[:length]
        causal_mask = paddle.triu(paddle.full([length, length], float("-inf")), diagonal=1)
        for block in model.transformer.resblocks:
            normed = block.ln_1(hidden)
            hidden = hidden + block.attn(normed, normed, normed, attn_mask=causal_mask)
            hidden = hidden + block.mlp(block.ln_2(hidden))
        hidden = model.ln_final(hidden)
        rows = paddle.to_tensor(np.stack([np.arange(len(tokens)), end_index], axis=1))
        return paddle.gather_nd(hidden, rows) @ model.text_projection

    @paddle.no_grad()
    def encode_images(self, images):
        """Generator output [N,3,H,W] in [-1,1] -> image embeddings float32 Tensor [N,512]."""
        return self.model.encode_image(clip_preprocess(images))

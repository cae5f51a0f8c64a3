"""Global directions in StyleGAN2's style space (S): numpy functions (thread-safe), and direction files.

Vocabulary (shapes for the 1024 px generator):
- ``fs3`` [C,512]: CLIP-space direction of every non-toRGB style channel (C = 6048),
  rows ordered by layer (``style_layers`` order), channels ascending within a layer;
- ``delta_t`` [512]: unit CLIP-space text direction;
- ``relevance`` [C] = fs3 @ delta_t;
- ``delta_s``: list of per-layer arrays [C_l] in the S code layout (26 layers, toRGB zero);
- ``channels_lst``: channels of every S layer; ``style_layers``: indices of the non-toRGB layers.
"""

import numpy as np

from ..utils.checkpoint import load_pdparams
from ..utils.checks import check_input_file, load_npy
from ..utils.errors import UserError

AUTO_BETAS = tuple(round(0.10 + 0.01 * step, 2) for step in range(20))
AUTO_MIN_CHANNELS = 20
CLIP_DIM = 512


def l2_normalize(x, axis=-1):
    """x / ||x|| along ``axis``; all-zero vectors stay zero instead of becoming NaN."""
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def normalized_differences(emb_plus, emb_minus):
    """Unit CLIP differences normalize(normalize(f+) - normalize(f-)), numpy [..., 512] -> [..., 512]."""
    return l2_normalize(l2_normalize(emb_plus) - l2_normalize(emb_minus))


def channel_direction(emb_plus, emb_minus):
    """CLIP direction of a style channel from paired image embeddings (docs/spec.md, section 4, step 3).

    emb_plus, emb_minus: numpy [..., N, 512] embeddings of the N images rendered at
    mean + k*std and mean - k*std (call ``.numpy()`` on Paddle outputs). Returns
    [..., 512]: the unit mean over N of the unit differences. Pairs with identical
    embeddings add nothing; a channel whose pairs are all identical gets a zero row.
    """
    return l2_normalize(normalized_differences(emb_plus, emb_minus).mean(axis=-2))


def channel_relevance(fs3, delta_t):
    """Relevance of every channel to the text direction: fs3 [C,512] @ delta_t [512] -> [C]."""
    return fs3 @ delta_t


def select_channels(relevance, beta):
    """Zero every channel with |r| < beta and divide by max |r|: [C] -> [C] in [-1, 1].

    A beta that keeps no channel raises UserError stating the largest |r|.
    """
    magnitude = np.abs(relevance)
    largest = float(magnitude.max())
    if largest == 0.0 or largest < beta:
        raise UserError(f"beta {beta} keeps no style channel: the largest |relevance| is {largest:.4f}; "
                        f"pass a beta below {largest:.4f}")
    return np.where(magnitude >= beta, relevance, 0.0).astype(np.float32) / np.float32(largest)


def auto_beta(relevance):
    """The official GUI's automatic beta: the largest of 0.10, 0.11, .., 0.29 keeping more than 20 channels.

    When even 0.10 keeps 20 channels or fewer, returns 0.10, the most permissive beta
    of that range (``select_channels`` then raises if it keeps none).
    """
    magnitude = np.abs(relevance)
    kept = [beta for beta in AUTO_BETAS if np.count_nonzero(magnitude >= beta) > AUTO_MIN_CHANNELS]
    return kept[-1] if kept else AUTO_BETAS[0]


def style_channel_count(channels_lst, style_layers):
    """Number of non-toRGB style channels (rows of fs3): 6048 for the 1024 px generator."""
    return int(sum(channels_lst[layer] for layer in style_layers))


def split_per_layer(delta_flat, channels_lst, style_layers):
    """Flat non-toRGB vector [C] -> list of per-layer float32 arrays [C_l] for every S layer, toRGB layers zero."""
    expected = style_channel_count(channels_lst, style_layers)
    if delta_flat.shape != (expected,):
        raise ValueError(f"delta has shape {delta_flat.shape}, expected ({expected},)")
    delta_s = [np.zeros(channels, np.float32) for channels in channels_lst]
    start = 0
    for layer in style_layers:
        delta_s[layer] = np.asarray(delta_flat[start:start + channels_lst[layer]], np.float32)
        start += channels_lst[layer]
    return delta_s


def scale_by_std(delta_s, channel_std):
    """Official StyleCLIP's per-channel scaling: delta_s[l] * std[l] for every layer (lists of [C_l])."""
    if len(delta_s) != len(channel_std):
        raise UserError(f"the statistics file has {len(channel_std)} style layers, the generator {len(delta_s)}; "
                        "pass the statistics file made for this generator")
    return [delta * np.asarray(std, np.float32) for delta, std in zip(delta_s, channel_std)]


def compute_delta_s(fs3, delta_t, beta, channels_lst, style_layers, channel_std=None):
    """Text direction -> S-space edit direction (list of [C_l]), optionally scaled by the channel std."""
    selected = select_channels(channel_relevance(fs3, delta_t), beta)
    delta_s = split_per_layer(selected, channels_lst, style_layers)
    return delta_s if channel_std is None else scale_by_std(delta_s, channel_std)


def edit_styles(styles, delta_s, strength):
    """Edited S code: styles[l] + strength * delta_s[l]; styles are numpy arrays or Paddle tensors [B, C_l]."""
    return [style + np.float32(strength) * delta for style, delta in zip(styles, delta_s)]


def _read_direction_matrix(path):
    """fs3 as float32 numpy [rows, cols] from an official .npy or a PaddleGAN bare-tensor .pdparams."""
    what = "a PaddleGAN .pdparams or an official fs3.npy global direction file"
    check_input_file("{direction_path}", path, what)
    if path.endswith(".npy"):
        matrix = load_npy(path, "{direction_path}", what)
    else:
        matrix = load_pdparams(path, "{direction_path}")  # host data: never placed on a GPU
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2 or matrix.shape[1] != CLIP_DIM:
        found = f"an array of shape {list(matrix.shape)}" if hasattr(matrix, "shape") else f"a {type(matrix).__name__}"
        raise UserError(f"direction file {path} holds {found}, not a [channels, {CLIP_DIM}] matrix; "
                        "pass a global direction file")
    return matrix.astype(np.float32)


def load_directions(path, channels_lst, style_layers):
    """Read a global direction file as fs3 float32 [C,512] for a generator's S layout.

    PaddleGAN's .pdparams (a bare tensor) must have exactly C rows. An official
    ``fs3.npy`` may stop early at a layer boundary (e.g. 5376 rows: layers up to
    128 px); the missing later layers are zero-filled.
    """
    matrix = _read_direction_matrix(path)
    expected = style_channel_count(channels_lst, style_layers)
    boundaries = np.cumsum([channels_lst[layer] for layer in style_layers])
    rows = matrix.shape[0]
    partial_ok = path.endswith(".npy") and rows in boundaries
    if rows != expected and not partial_ok:
        raise UserError(f"direction file {path} has {rows} rows, the generator has {expected} non-toRGB style channels; "
                        "pass the direction file extracted for this generator")
    return np.concatenate([matrix, np.zeros((expected - rows, CLIP_DIM), np.float32)])

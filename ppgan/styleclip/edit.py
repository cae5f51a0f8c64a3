"""An edit's values and direction: strengths, beta, texts, and the S-space direction of a text direction.

``edit_direction`` is the pure heart of an edit (docs/spec.md, section 5): relevance
r = fs3 @ delta_t, channels with |r| >= beta kept and divided by max |r| (optionally
times the channel std), delta_s per layer. ``as_strengths``, ``as_beta`` and
``check_texts`` check what the user asked for before any model loads.
"""
import collections
import math

import numpy as np

from ..utils.checks import plain
from ..utils.errors import UserError
from .directions import AUTO_MIN_CHANNELS, auto_beta, channel_relevance, compute_delta_s
from .text import check_prompt_length

DEFAULT_BETA = 0.12
DEFAULT_STRENGTH = 5.0
MAX_STRENGTH = 100.0  # |strength| beyond this saturates every moved channel (StyleCLIP's GUI stops at 10)

EditDirection = collections.namedtuple("EditDirection", "delta_s beta moved channels max_relevance")
EditDirection.__doc__ = ("An S-space edit: delta_s (list of float32 [C_l], toRGB zero), the beta used, "
                         "channels moved, non-toRGB channels in all, max |r|.")


def as_strengths(strengths):
    """One strength or several -> tuple of distinct finite floats in [-MAX_STRENGTH, MAX_STRENGTH], in the given order."""
    values = np.atleast_1d(np.asarray(strengths, dtype=np.float64)).ravel()
    if values.size == 0 or not np.isfinite(values).all() or np.abs(values).max() > MAX_STRENGTH:
        shown = " ".join(plain(float(value)) for value in values) or "(none)"
        raise UserError(f"{{direction_offset}} {shown}: pass one or more finite numbers from -{MAX_STRENGTH:g} to "
                        f"{MAX_STRENGTH:g}, e.g. -1 0 1 2 3 4 5")
    return tuple(dict.fromkeys(float(value) + 0.0 for value in values))  # + 0.0 turns -0.0 into 0.0


def as_beta(beta_threshold):
    """'auto' (the official GUI rule) or a finite beta >= 0 (a number or its text)."""
    if isinstance(beta_threshold, str) and beta_threshold.strip().lower() == "auto":
        return "auto"
    try:
        beta = float(beta_threshold)
    except (TypeError, ValueError):
        beta = math.nan
    if not (math.isfinite(beta) and beta >= 0):
        raise UserError(f"{{beta_threshold}} {beta_threshold!r} is not 'auto' or a number >= 0; "
                        f"pass e.g. {DEFAULT_BETA} or auto")
    return beta


def check_texts(neutral, target, templates="paddlegan"):
    """Raise UserError for descriptions an edit cannot use: empty, equal, or a prompt over CLIP's 77 tokens.

    The one check of an edit's texts, at each entry (the command before any model loads, the
    predictor's ``run``, the page); CLIP and the text direction take them as they are.
    """
    for text in (neutral, target):
        if not text.strip():  # templates would hide it: 'a photo of a .'
            raise UserError("empty text description; describe the face in words, e.g. 'face' or 'smiling face'")
    if neutral.strip() == target.strip():
        raise UserError(f"neutral and target descriptions are both {neutral.strip()!r}; "
                        "give a target that describes the change")
    for arg, text in (("{neutral}", neutral), ("{target}", target)):
        check_prompt_length(text, templates, arg)


def edit_direction(fs3, delta_t, beta, channels_lst, style_layers, channel_std=None):
    """Text direction delta_t [512] -> EditDirection over fs3 [C, 512]; ``beta`` a number or 'auto'
    (the official GUI rule); ``channel_std`` (list of [C_l]) scales each channel's move (official convention)."""
    relevance = channel_relevance(fs3, delta_t)
    beta = as_beta(beta)
    if beta == "auto":
        beta = auto_beta(relevance)
        largest = float(np.abs(relevance).max())
        if largest < beta:
            raise UserError(f"{{beta_threshold}} auto chose {beta:g}, the rule's lowest (no beta from 0.10 to 0.29 "
                            f"keeps more than {AUTO_MIN_CHANNELS} channels), and it keeps no style channel: the "
                            f"largest |relevance| is {largest:.4f}; pass a number below {largest:.4f} with "
                            "{beta_threshold}, or another text")
    delta_s = compute_delta_s(fs3, delta_t, beta, channels_lst, style_layers, channel_std)
    moved = sum(np.count_nonzero(delta) for delta in delta_s)
    return EditDirection(delta_s, beta, moved, len(fs3), float(np.abs(relevance).max()))


def channel_summary(direction, neutral, target):
    """One line: how many style channels the edit moves, at which beta."""
    return (f"{neutral!r} -> {target!r}: beta {direction.beta:g} moves {direction.moved} of "
            f"{direction.channels} style channels (max |r| {direction.max_relevance:.4f})")

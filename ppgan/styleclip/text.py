"""Text directions in CLIP space: prompt templates, template-averaged text features, delta_t, prompt lengths."""
import functools
import json
from importlib import resources

import numpy as np

from ..utils.errors import UserError
from .directions import l2_normalize

TEMPLATE_SETS = ("paddlegan", "official")
SAME_FEATURE_TOLERANCE = 1e-6


@functools.lru_cache(maxsize=None)
def load_templates(name):
    """Prompt templates of a set, each with one '{}': 'paddlegan' (46) or 'official' (CLIP's 80 minus one, 79)."""
    if name not in TEMPLATE_SETS:
        raise UserError(f"unknown prompt template set {name!r}; use one of {', '.join(TEMPLATE_SETS)}")
    text = resources.files(__package__).joinpath("prompt_templates.json").read_text(encoding="utf-8")
    return tuple(json.loads(text)[name])


def check_prompt_length(text, templates="paddlegan", arg="{target}"):
    """Raise UserError if ``text`` in some template of the set is over CLIP's 77 tokens.

    The message quotes the user's text (not a template), its token count, the limit
    and how many tokens the longest template adds.
    """
    from .clip import CONTEXT_LENGTH, shorten, token_count

    longest = max(token_count(template.format(text)) for template in load_templates(templates))
    if longest > CONTEXT_LENGTH:
        own = token_count(text)
        added = longest - own
        raise UserError(f"{arg} {shorten(text)} is {own} CLIP tokens and the longest prompt template of "
                        f"{{templates}} {templates} adds {added}: over CLIP's limit of {CONTEXT_LENGTH}; "
                        f"shorten it to at most {CONTEXT_LENGTH - added} tokens")


def text_features(encoder, texts, templates):
    """Template-averaged CLIP text features of several texts: float32 [len(texts), 512].

    Every ``template.format(text)`` is encoded in one batch and L2-normalised; the
    features of a text are averaged over its templates and L2-normalised.
    """
    prompts = [template.format(text) for text in texts for template in templates]
    embeddings = np.asarray(encoder.encode_text(prompts), np.float32)
    per_text = embeddings.reshape(len(texts), len(templates), -1)
    return l2_normalize(l2_normalize(per_text).mean(axis=1))


def delta_t(feature_neutral, feature_target):
    """CLIP-space text direction normalize(target - neutral): [512], [512] -> unit [512]."""
    difference = feature_target - feature_neutral
    if np.linalg.norm(difference) < SAME_FEATURE_TOLERANCE:
        raise UserError("the neutral and target descriptions have the same CLIP text feature; "
                        "give a target that describes the change (e.g. neutral 'face', target 'smiling face')")
    return l2_normalize(difference)


class TextDirection:
    """Text directions with the text features of this run cached per (text, template set).

    ``encoder`` is anything with ``encode_text(list of str) -> [N,512]`` (a ClipEncoder).
    """

    def __init__(self, encoder, templates="paddlegan"):
        load_templates(templates)
        self.encoder = encoder
        self.templates = templates
        self._features = {}

    def features(self, texts, templates=None):
        """Text features float32 [len(texts), 512]; uncached texts are encoded together in one batch."""
        name = templates or self.templates
        uncached = [text for text in dict.fromkeys(texts) if (text, name) not in self._features]
        if uncached:
            for text, feature in zip(uncached, text_features(self.encoder, uncached, load_templates(name))):
                self._features[(text, name)] = feature
        return np.stack([self._features[(text, name)] for text in texts])

    def delta_t(self, neutral, target, templates=None):
        """Unit CLIP-space direction [512] from the neutral to the target description (checked by ``check_texts``)."""
        feature_neutral, feature_target = self.features([neutral, target], templates)
        return delta_t(feature_neutral, feature_target)

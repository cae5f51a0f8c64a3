"""CLIP ViT-B/32 for StyleCLIP: the encoder, its tokenizer and its image preprocessing on tensors.

- ``encoder``: ``ClipEncoder`` (paddleclip's ViT-B/32 behind strict weight loading), its image
  tower as a Paddle Inference program (``ImageTower``), random weight files for tests;
- ``tokens``: CLIP tokens of prompts (``tokenize``, ``token_count``, ``CONTEXT_LENGTH``);
- ``preprocess``: CLIP's preprocessing on tensors, equal to PIL's bit for bit (``clip_preprocess``),
  and PIL's own (``pil_preprocess``).

Inside this package ``import clip`` is PyPI's paddleclip (imports are absolute), not this package.
"""
from .encoder import WEIGHT_ARG, ClipEncoder, ImageTower, save_random_clip_weights
from .preprocess import clip_preprocess, pil_preprocess
from .tokens import CONTEXT_LENGTH, shorten, token_count, tokenize

__all__ = ["WEIGHT_ARG", "ClipEncoder", "ImageTower", "save_random_clip_weights", "clip_preprocess",
           "pil_preprocess", "CONTEXT_LENGTH", "shorten", "token_count", "tokenize"]

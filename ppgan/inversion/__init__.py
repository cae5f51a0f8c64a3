"""Photos and files -> W+: latents I/O, pSp encoding, fitting, and the photo pipeline (align -> invert -> refine).

Floor 3: depends on models, faceutils and metrics, never on apps, page or cli.
"""
from .latents import load_latent_file, read_latents
from .photo import InvertedPhoto, PhotoInverter

__all__ = ["InvertedPhoto", "PhotoInverter", "load_latent_file", "read_latents"]

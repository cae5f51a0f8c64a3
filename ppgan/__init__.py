"""StyleCLIP global directions on PaddlePaddle, in a PaddleGAN-style package.

Importing ``ppgan`` tunes the CPU runtime before Paddle loads (see
``ppgan.utils.runtime``): import ``ppgan`` before ``paddle`` in entry points.
"""
from .utils.runtime import configure_cpu_runtime

configure_cpu_runtime()

__version__ = "0.1.0"

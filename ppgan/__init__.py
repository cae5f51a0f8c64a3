"""StyleCLIP global directions on PaddlePaddle, in a PaddleGAN-style package.

Importing ``ppgan`` (or any submodule) changes nothing in the process. Programs that want
the CPU tuned as the tools have it call ``ppgan.configure_cpu_runtime()`` before importing
``paddle`` (see ``ppgan.utils.runtime``).
"""
# Paddle 2.6's libpaddle exports zlib functions of its own: Python's zlib module, when first loaded
# after it, calls them and crashes on decompression (gzip, PNG, CLIP's vocabulary). Load it first.
import zlib  # noqa: F401,I001

from .utils.runtime import configure_cpu_runtime

__version__ = "0.1.0"

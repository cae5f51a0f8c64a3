"""StyleCLIP global directions on PaddlePaddle, in a PaddleGAN-style package.

Importing ``ppgan`` (or any submodule) changes nothing in the process. Programs that want
the CPU tuned as the tools have it call ``ppgan.configure_cpu_runtime()`` before importing
``paddle`` (see ``ppgan.utils.runtime``).
"""
from .utils.runtime import configure_cpu_runtime

__version__ = "0.1.0"

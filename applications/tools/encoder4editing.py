"""Invert a face photo into StyleGAN2's W+ with e4e (encoder4editing): the pSp tool's twin.

The command lives in ``ppgan/cli/e4e.py`` (flags: --help).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

from ppgan.cli.common import run_cli  # noqa: E402
from ppgan.cli.e4e import main  # noqa: E402

if __name__ == "__main__":
    run_cli(main)

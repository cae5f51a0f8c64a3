"""Export a StyleGAN2 synthesis network as a Paddle Inference model (for serving or other runtimes).

The command lives in ``ppgan/cli/export.py``; this script keeps its documented path (flags: --help).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

from ppgan.cli.common import run_cli  # noqa: E402
from ppgan.cli.export import main  # noqa: E402

if __name__ == "__main__":
    run_cli(main)

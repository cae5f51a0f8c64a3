"""Write random-weight model files as a release mirror: python tools/random_mirror.py --output_dir random_mirror.

The command lives in ``ppgan/cli/random_mirror.py``; this script keeps its documented path (flags: --help).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppgan.utils.runtime import configure_cpu_runtime

configure_cpu_runtime()  # before anything imports paddle

from ppgan.cli.common import run_cli
from ppgan.cli.random_mirror import main

if __name__ == "__main__":
    run_cli(main)

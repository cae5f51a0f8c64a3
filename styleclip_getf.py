"""Sample the StyleSpace statistics that StyleCLIP global directions need.

The command lives in ``ppgan/cli/stats.py``; this script keeps its documented path (flags: --help).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

from ppgan.cli.common import run_cli  # noqa: E402
from ppgan.cli.stats import main  # noqa: E402

if __name__ == "__main__":
    run_cli(main)

"""A local web page to edit StyleGAN2 faces with text (StyleCLIP global directions), built with Gradio.

    python applications/tools/styleclip_app.py [--latent latents.npy] [--target "smiling face"]
        [--direction_path DIR] [--clip_weight_path CLIP] [model flags] [--host 127.0.0.1] [--port 7860]

The command lives in ``ppgan/cli/app.py`` (flags: --help).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime(keep_freed_memory=False)  # before anything imports paddle

from ppgan.cli.app import main  # noqa: E402
from ppgan.cli.common import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)

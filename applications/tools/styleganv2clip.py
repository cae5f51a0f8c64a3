"""Edit StyleGAN2 faces with a text description (StyleCLIP global directions).

    python applications/tools/styleganv2clip.py --latent latents.npy --neutral face --target "smiling face"
        [--direction_offset -1 0 1 2 3 4 5] [--beta_threshold 0.12 | auto] [--scale_by_std]
        [--templates paddlegan | official] [--input_image PHOTO] [--output_path output_dir]

The command lives in ``ppgan/cli/edit.py`` (also ``python ppgan/apps/styleganv2clip_predictor.py edit``;
flags: --help).
"""
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

from ppgan.cli.common import run_cli  # noqa: E402
from ppgan.cli.edit import main  # noqa: E402

if __name__ == "__main__":
    run_cli(main)

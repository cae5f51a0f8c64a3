"""Export a StyleGAN2 synthesis network as a Paddle Inference model (for serving or other runtimes).

    python tools/export_model.py --model_type ffhq-config-f --output_dir inference_model

Writes ``synthesis.json`` (or ``.pdmodel``) and ``synthesis.pdiparams``: inputs ``style_0`` ..
``style_{n-1}`` (the S code, [B, C_i] each), output the image [B, 3, size, size] in [-1, 1],
with the generator's saved noise. W -> S is ``StyleGANv2Generator.style_affine``.
"""
import argparse
import os

from ..models.generators.fast_synthesis import export_synthesis
from ..models.loading import load_stylegan2
from ..utils.compiled import check_export
from ..utils.fileio import (
    atomic_files,
    check_output_files,
    check_writable_dir,
    write_error,
)
from .common import add_generator_args, generator_spec, select_runtime


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="inference_model")
    add_generator_args(parser)
    args = parser.parse_args(argv)
    check_writable_dir(args.output_dir, "--output_dir")
    prefix = os.path.join(args.output_dir, "synthesis")
    check_output_files([prefix + ext for ext in (".json", ".pdmodel", ".pdiparams")], "--output_dir")
    select_runtime(args)
    generator = load_stylegan2(generator_spec(args))
    with atomic_files(args.output_dir, "--output_dir") as staged:
        staged_prefix = staged.path(prefix)
        try:
            export_synthesis(generator, staged_prefix)
        except OSError as exc:
            raise write_error(prefix, exc, "--output_dir") from exc
        check_export(os.path.dirname(staged_prefix), "synthesis", prefix, "pass another --output_dir (nothing was written)")
        files = ", ".join(staged.staged())
    print(f"wrote the synthesis network ({len(generator.channels_lst)} style inputs) to {args.output_dir}: {files}")

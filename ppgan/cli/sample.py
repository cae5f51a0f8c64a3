"""Sample a grid of StyleGAN2 faces: python applications/tools/styleganv2.py --n_row 3 --n_col 5"""
import argparse
import os

from ..apps.styleganv2_predictor import StyleGANv2Predictor
from ..utils.checks import (
    SEED_MAX,
    TRUNCATION_RANGE,
    check_float,
    check_int,
    check_seed,
)
from ..utils.fileio import check_output_files, check_writable_dir
from .common import add_generator_args, generator_spec, select_runtime

MAX_GRID_SIDE = 100  # faces per row or column: 100 x 100 at 1024 px takes hours on a CPU


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output_path", default="output_dir", help="folder for sample.png and latents.npy")
    parser.add_argument("--n_row", type=int, default=3, help=f"rows of faces (1 to {MAX_GRID_SIDE})")
    parser.add_argument("--n_col", type=int, default=5, help=f"columns of faces (1 to {MAX_GRID_SIDE})")
    parser.add_argument("--truncation", type=float, default=0.7,
                        help=f"truncation psi, {TRUNCATION_RANGE[0]} to {TRUNCATION_RANGE[1]} (1 = no truncation)")
    parser.add_argument("--seed", type=int, default=0, help=f"numpy seed, 0 to {SEED_MAX}")
    add_generator_args(parser)
    args = parser.parse_args(argv)
    for flag in ("--n_row", "--n_col"):
        check_int(flag, getattr(args, flag[2:]), 1, MAX_GRID_SIDE)
    check_float("--truncation", args.truncation, *TRUNCATION_RANGE, example=0.7)
    check_seed("--seed", args.seed)
    check_writable_dir(args.output_path)
    check_output_files([os.path.join(args.output_path, name) for name in ("sample.png", "latents.npy")])
    select_runtime(args)
    predictor = StyleGANv2Predictor(args.output_path, seed=args.seed, spec=generator_spec(args))
    path = predictor.run(args.n_row, args.n_col, args.truncation)
    print(f"wrote {path} and latents.npy ({args.n_row * args.n_col} faces, W+ for styleganv2clip.py --latent)")

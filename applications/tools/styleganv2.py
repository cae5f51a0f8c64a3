"""Sample a grid of StyleGAN2 faces: python applications/tools/styleganv2.py --n_row 3 --n_col 5"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

from ppgan.utils.cli import add_generator_args, generator_spec, run_cli  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output_path", default="output_dir", help="folder for sample.png and latents.npy")
    parser.add_argument("--n_row", type=int, default=3)
    parser.add_argument("--n_col", type=int, default=5)
    parser.add_argument("--truncation", type=float, default=0.7, help="1 = no truncation")
    parser.add_argument("--seed", type=int, default=0)
    add_generator_args(parser)
    args = parser.parse_args(argv)

    from ppgan.apps.styleganv2_predictor import StyleGANv2Predictor
    from ppgan.utils.runtime import select_device

    select_device(args.cpu)
    predictor = StyleGANv2Predictor(args.output_path, seed=args.seed, spec=generator_spec(args))
    path = predictor.run(args.n_row, args.n_col, args.truncation)
    print(f"wrote {path} and latents.npy ({args.n_row * args.n_col} faces, W+ for styleganv2clip.py --latent)")


if __name__ == "__main__":
    run_cli(main)

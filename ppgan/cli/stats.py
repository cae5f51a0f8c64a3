"""Sample the StyleSpace statistics that StyleCLIP global directions need.

    python styleclip_getf.py [--model_type ffhq-config-f | --config MODEL.yaml | --weight_path FILE]
        [--num_samples 100000] [--num_saved 2000] [--batch_size 1000] [--seed 1234] [--truncation 0.7]
        [--truncation_cutoff ROWS] [--dataset_name NAME] [--output_dir .] [--cpu]

Writes, in --output_dir, ``S-{dataset_name}.pdparams`` (the first --num_saved
S codes) and ``stylegan2-{dataset_name}-styleclip-stats.pdparams`` (per-channel
mean and unbiased std over all --num_samples); --dataset_name defaults to the
model's name (its config's, or the weight file's). ``ppgan/styleclip/stats.py``
documents the sampling order and the file formats.
"""
import argparse
import os
import sys
import time

from tqdm import tqdm

from ..models.loading import load_stylegan2
from ..styleclip.stats import (
    collect_statistics,
    s_codes_file_name,
    save_statistics_files,
    stats_file_name,
)
from ..utils.checks import (
    TRUNCATION_RANGE,
    check_float,
    check_int,
    check_name,
    check_seed,
)
from ..utils.errors import UserError
from ..utils.fileio import check_output_files, check_writable_dir
from .common import add_generator_args, generator_spec, select_runtime

MAX_SAMPLES = 10**9  # about 100 hours on 2 CPU cores
MAX_SAVED = 100000  # S codes kept in memory and in the file (36 KB each for FFHQ)
MAX_BATCH = 100000


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Sample StyleSpace (S) codes and their per-channel mean and std.")
    add_generator_args(parser)
    parser.add_argument("--num_samples", type=int, default=100000, help="z samples the statistics cover")
    parser.add_argument("--num_saved", type=int, default=2000, help="S codes saved (the first ones)")
    parser.add_argument("--batch_size", type=int, default=1000, help="samples mapped at once")
    parser.add_argument("--seed", type=int, default=1234, help="numpy RandomState seed of z")
    parser.add_argument("--truncation", type=float, default=0.7, help="truncation psi (1: none)")
    parser.add_argument("--truncation_cutoff", type=int, default=None,
                        help="truncate only the first ROWS W+ rows (default: all)")
    parser.add_argument("--dataset_name", default=None,
                        help="name used in the output file names (default: the model's name, from its config or file)")
    parser.add_argument("--output_dir", default=".", help="folder of the two output files")
    return parser.parse_args(argv)


def check_args(args):
    """Reject impossible values before any work."""
    if args.num_samples < 2:
        raise UserError(f"--num_samples {args.num_samples} is too small; the std needs at least 2 samples")
    check_int("--num_samples", args.num_samples, 2, MAX_SAMPLES)
    if not 1 <= args.num_saved <= args.num_samples:
        raise UserError(f"--num_saved {args.num_saved} must be between 1 and --num_samples {args.num_samples}; "
                        "lower --num_saved or raise --num_samples")
    check_int("--num_saved", args.num_saved, 1, MAX_SAVED)
    check_int("--batch_size", args.batch_size, 1, MAX_BATCH)
    if args.truncation_cutoff is not None and args.truncation_cutoff < 1:
        raise UserError(f"--truncation_cutoff {args.truncation_cutoff} must be at least 1 "
                        "(leave it out to truncate all rows, or use --truncation 1 for none)")
    check_float("--truncation", args.truncation, *TRUNCATION_RANGE, example=0.7)
    check_seed("--seed", args.seed)


def check_cutoff(args, generator):
    """--truncation_cutoff at most the generator's W+ rows."""
    if args.truncation_cutoff is not None and args.truncation_cutoff > generator.n_latent:
        raise UserError(f"--truncation_cutoff {args.truncation_cutoff} is more than the generator's "
                        f"{generator.n_latent} W+ rows; pass at most {generator.n_latent} or leave it out")


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    spec = generator_spec(args)
    dataset_name = check_name("--dataset_name", spec.name if args.dataset_name is None else args.dataset_name)
    check_writable_dir(args.output_dir, "--output_dir")
    s_codes_path = os.path.join(args.output_dir, s_codes_file_name(dataset_name))
    stats_path = os.path.join(args.output_dir, stats_file_name(dataset_name))
    check_output_files([s_codes_path, stats_path], "--output_dir")
    select_runtime(args)
    generator = load_stylegan2(spec)
    check_cutoff(args, generator)

    start = time.perf_counter()
    with tqdm(total=args.num_samples, desc="S statistics", unit="sample", unit_scale=True,
              file=sys.stderr) as bar:
        stats, s_codes = collect_statistics(generator, args.num_samples, args.num_saved, args.batch_size, args.seed,
                                            args.truncation, args.truncation_cutoff, progress=bar.update)
    save_statistics_files(s_codes_path, stats_path, s_codes, stats.mean, stats.std(ddof=1))
    seconds = time.perf_counter() - start
    print(f"{stats.count} samples, {sum(generator.channels_lst)} channels in {len(s_codes)} layers, "
          f"{seconds:.1f} s: wrote {s_codes_path} and {stats_path}")

"""``styleganv2clip_predictor.py extract``: compute StyleCLIP global directions (fs3) for a generator.

    python ppgan/apps/styleganv2clip_predictor.py extract [--model_type ffhq-config-f | --config MODEL.yaml |
        --weight_path FILE ...] [--dataset_name NAME] [--S_path FILE] [--stat_path FILE] [--clip_weight_path FILE]
        [--num_images 100] [--alpha 5] [--batch_size B] [--render_batch R] [--channel_range START:END] [--output FILE]
        [--checkpoint_every CHANNELS] [--merge_wait SECONDS] [--cpu] [--engine E] [--precision P]
    python -m paddle.distributed.launch --nproc_per_node N ppgan/apps/styleganv2clip_predictor.py extract ...
    python ppgan/apps/styleganv2clip_predictor.py extract --merge [--output FILE | --dataset_name NAME]

Rerunning the same command resumes from the resume file next to the output.
Under Paddle's launcher each rank computes its share of the channels
(PADDLE_TRAINER_ID / PADDLE_TRAINERS_NUM); rank 0 merges the parts. See docs/extraction.md;
the extraction itself is ``ppgan.styleclip.extract``.
"""
import argparse
import os
import re
import sys

from ..models.loading import load_stylegan2
from ..styleclip.clip import ClipEncoder
from ..styleclip.directions import style_channel_count
from ..styleclip.extract import (DirectionExtractor, check_s_codes_match_stats, default_batch_size,
                                 extraction_bf16, inputs_fingerprint, merge_parts, output_file_name, output_lock,
                                 part_path, resume_path)
from ..styleclip.stats import load_s_codes, load_stats, s_codes_file_name, stats_file_name
from ..utils.checks import check_float, check_int, check_name
from ..utils.errors import UserError
from ..utils.fileio import check_output_files, check_writable_dir
from ..utils import runtime
from .common import add_generator_args, generator_spec, select_runtime

MAX_ALPHA = 100.0  # channel offset in std units (StyleCLIP: 5); far beyond it every render saturates
MAX_BATCH = 4096


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="styleganv2clip_predictor.py extract",
                                     description="Compute the StyleCLIP global direction of every style channel.")
    parser.add_argument("--dataset_name", default=None,
                        help="name in the default file names (default: the model's name, from its config or file)")
    add_generator_args(parser)
    parser.add_argument("--S_path", default=None, help="S samples (default S-{dataset_name}.pdparams)")
    parser.add_argument("--stat_path", default=None,
                        help="S statistics (default stylegan2-{dataset_name}-styleclip-stats.pdparams)")
    parser.add_argument("--clip_weight_path", default=None, help="CLIP ViT-B/32 weights (default: released file)")
    parser.add_argument("--num_images", type=int, default=100, help="S samples each channel is measured on")
    parser.add_argument("--alpha", type=float, default=5.0, help="channel offset, in std units (above 0, at most 100)")
    parser.add_argument("--batch_size", type=int, default=None,
                        help="renders per batch, embedded by CLIP at once (default: 4 on a CPU, 16 on a GPU)")
    parser.add_argument("--render_batch", type=int, default=None,
                        help="renders per synthesis call, a divisor of --batch_size (default: on a CPU 1 at 1024 px, "
                             "(1024/size)^2 below; on a GPU as many as fit its memory at about 1.25 GB each "
                             "at 1024 px, after 2 GB for the weights)")
    parser.add_argument("--channel_range", default=None,
                        help="START:END rows (non-toRGB channels in row order; default: all)")
    parser.add_argument("--output", default=None,
                        help="direction file (default stylegan2-{dataset_name}-styleclip-global-directions.pdparams; "
                             ".npy for numpy)")
    parser.add_argument("--checkpoint_every", type=int, default=None,
                        help="save the resume file after this many channels of work (default: every 5 minutes)")
    parser.add_argument("--merge_wait", type=float, default=3600.0,
                        help="seconds rank 0 waits for the other ranks' parts before leaving the merge to --merge")
    parser.add_argument("--merge", action="store_true", help="only merge the part files of a multi-rank run")
    return parser.parse_args(argv)


def parse_channel_range(text, total):
    """``"START:END"`` (either side may be empty) -> (start, stop) within [0, total]; None -> (0, total)."""
    if text is None:
        return 0, total
    match = re.fullmatch(r"\s*(\d*)\s*:\s*(\d*)\s*", text)
    if not match:
        raise UserError(f"--channel_range {text!r} is not START:END (e.g. 0:512)")
    start = int(match.group(1)) if match.group(1) else 0
    stop = int(match.group(2)) if match.group(2) else total
    if not 0 <= start < stop <= total:
        raise UserError(f"--channel_range {text} is outside 0:{total} or empty; "
                        f"this generator has {total} non-toRGB channels")
    return start, stop


def rank_and_world():
    """(rank, number of ranks) from Paddle's launcher environment; (0, 1) without it."""
    rank, world = int(os.environ.get("PADDLE_TRAINER_ID", 0)), int(os.environ.get("PADDLE_TRAINERS_NUM", 1))
    if not 0 <= rank < world:
        raise UserError(f"PADDLE_TRAINER_ID {rank} is not below PADDLE_TRAINERS_NUM {world}; "
                        "start the ranks with python -m paddle.distributed.launch")
    return rank, world


def load_inputs(args, spec):
    """Generator, row range, CLIP image tower, S samples and statistics, all checked against each other.

    Only CLIP's image tower is kept: its text tower (250 MB) is freed before the renders need memory.
    """
    s_path = args.S_path or s_codes_file_name(args.dataset_name)
    stat_path = args.stat_path or stats_file_name(args.dataset_name)
    generator = load_stylegan2(spec)
    rows = parse_channel_range(args.channel_range, style_channel_count(generator.channels_lst, generator.style_layers))
    s_codes = load_s_codes(s_path, generator.channels_lst, args.num_images)
    mean, std = load_stats(stat_path, generator.channels_lst)
    check_s_codes_match_stats(s_codes, mean, std, s_path, stat_path)
    image_encoder = ClipEncoder(args.clip_weight_path).image_tower  # the eager text tower is dropped here
    return generator, rows, image_encoder, s_codes, mean, std


def main(argv=None):
    args = parse_args(argv)

    spec = generator_spec(args)
    args.dataset_name = spec.name if args.dataset_name is None else args.dataset_name
    check_name("--dataset_name", args.dataset_name)
    output = args.output or output_file_name(args.dataset_name)
    check_output_files([output], "--output")
    if args.merge:
        with output_lock(output):
            rows = merge_parts(output)
        print(f"merged {rows} rows into {output}")
        return
    check_int("--num_images", args.num_images, 1)
    check_float("--alpha", args.alpha, 0.0, MAX_ALPHA, low_open=True, example=5)
    select_runtime(args)
    if args.batch_size is None:
        args.batch_size = default_batch_size(runtime.gpu_memory_bytes())
    check_int("--batch_size", args.batch_size, 1, MAX_BATCH)
    if args.render_batch is not None:
        if not 1 <= args.render_batch <= args.batch_size or args.batch_size % args.render_batch:
            raise UserError(f"--render_batch {args.render_batch} does not divide --batch_size {args.batch_size}; "
                            "pass a divisor of --batch_size")
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise UserError(f"--checkpoint_every {args.checkpoint_every} must be at least 1 channel")
    check_float("--merge_wait", args.merge_wait, 0.0, example=3600)
    rank, world = rank_and_world()
    check_writable_dir(os.path.dirname(os.path.abspath(output)), "--output")
    check_output_files([resume_path(output, rank, world), part_path(output, rank, world)], "--output")
    with output_lock(output, rank, world):  # a second run on this output is refused before anything loads
        generator, rows, image_encoder, s_codes, mean, std = load_inputs(args, spec)
        fingerprint = inputs_fingerprint(generator, image_encoder, s_codes, mean, std)
        bf16 = extraction_bf16(generator, image_encoder, s_codes, mean, std, args.alpha, args.batch_size,
                               args.render_batch, fingerprint)
        extractor = DirectionExtractor(generator, image_encoder, s_codes, mean, std, args.alpha, args.batch_size,
                                       args.render_batch, bf16=bf16)
        path = extractor.extract(rows, output, fingerprint, rank, world, args.checkpoint_every, args.merge_wait)
    print(f"{f'rank {rank}: ' if world > 1 else ''}wrote {path}", file=sys.stderr)


"""Write random-weight model files laid out as a mirror of the releases: every command runs without downloading.

    python tools/random_mirror.py --output_dir random_mirror
    export PPGAN_MODEL_BASE_URL=file://$PWD/random_mirror PPGAN_HOME=$PWD/random_mirror/cache

RANDOM WEIGHTS: faces drawn with them are noise and edits have no meaning. The files carry the
release names of configs/ (generator, StyleCLIP directions, pSp, e4e, CLIP, LPIPS; the statistics
are the real released file), about 3.2 GB at the default 1024 px; README.txt in the folder says
what they are. Keep PPGAN_HOME apart from your real cache: the cache knows files by name only.
"""
import argparse
import os

from ..styleclip.random_models import (
    NOTICE,
    generator_architecture,
    write_random_mirror,
)
from ..utils.checks import check_seed
from ..utils.errors import UserError
from ..utils.fileio import check_writable_dir

DEFAULT_OUTPUT_DIR = "random_mirror"  # git ignores it in the clone


def _size_text(count):
    """A byte count for people: '3.8 GB', '605 MB', '12 kB'."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} B"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default=DEFAULT_OUTPUT_DIR, help="folder of the mirror (created)")
    parser.add_argument("--size", type=int, default=None,
                        help="generator resolution (default: its config's, 1024, what the README's commands load); "
                             "other sizes are for tests of the sample and edit commands, which then take the same "
                             "--size (the photo commands need the default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    args = parser.parse_args(argv)
    if args.size is not None and (args.size < 8 or args.size & (args.size - 1)):
        raise UserError(f"--size {args.size} is not a power of 2 of at least 8; pass e.g. 256, 512 or 1024, "
                        "or leave it out for the generator's own size")
    check_seed("--seed", args.seed)
    check_writable_dir(args.output_dir, "--output_dir")
    size = generator_architecture(args.size)["size"]
    print(f"{NOTICE}\nwriting a mirror of random model files ({size} px generator) into {args.output_dir}")
    written = write_random_mirror(args.output_dir, args.size, args.seed)
    for path, count in written:
        print(f"  {_size_text(count):>8}  {os.path.basename(path)}")
    folder = os.path.abspath(args.output_dir)
    print(f"wrote {len(written)} files, {_size_text(sum(count for _, count in written))} in all (random weights, "
          f"noise faces); use them with\n  export PPGAN_MODEL_BASE_URL=file://{folder} PPGAN_HOME={folder}/cache")

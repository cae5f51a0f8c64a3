"""Convert a rosinality stylegan2-pytorch checkpoint into a PaddleGAN generator .pdparams (PyTorch not needed).

    python tools/convert_weights.py --input 550000.pt --output stylegan2-mine-256.pdparams [--key g_ema]

Takes ``g_ema`` (or ``--key``; a bare generator state dict as it is), transposes the
EqualLinear weights and drops the blur kernels (``ppgan/models/formats/rosinality.py``). The
architecture is in the shapes: the output then works with ``--weight_path`` alone, and
is named after its file (docs/models.md). The file is read with a restricted unpickler:
nothing in it is executed.
"""
import argparse
import os

import paddle

from ..models.formats.rosinality import SUPPORTED, pick_generator, rosinality_to_paddle
from ..models.formats.torch_files import read_torch_checkpoint
from ..models.loading import stylegan2_architecture
from ..utils.errors import UserError
from ..utils.fileio import atomic_path, check_writable_dir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="rosinality checkpoint (.pt, a PyTorch zip)")
    parser.add_argument("--output", required=True, help="generator .pdparams to write")
    parser.add_argument("--key", default=None, help="entry holding the generator (default: g_ema, else the file itself)")
    args = parser.parse_args(argv)
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        raise UserError("--output is --input; write the converted file elsewhere")
    check_writable_dir(os.path.dirname(os.path.abspath(args.output)), "--output")
    state_dict = rosinality_to_paddle(pick_generator(read_torch_checkpoint(args.input, SUPPORTED), args.key, args.input))
    arch = stylegan2_architecture(state_dict, args.input)
    with atomic_path(args.output) as tmp:
        paddle.save({key: paddle.to_tensor(value) for key, value in state_dict.items()}, tmp)
    factor = f"channel_multiplier {arch['channel_multiplier']}" if arch["channel_multiplier"] else "custom widths"
    print(f"wrote {args.output}: {arch['size']} px, style_dim {arch['style_dim']}, n_mlp {arch['n_mlp']}, {factor} "
          f"({len(state_dict)} tensors)")

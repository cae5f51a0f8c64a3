"""Convert any supported checkpoint into PaddleGAN's layout (PyTorch and TensorFlow not needed, nothing executed).

    python tools/convert_weights.py --input FILE --output OUT.pdparams [--key g_ema]

The format is told from the file's content (``ppgan.models.formats``): NVIDIA's TensorFlow
StyleGAN2 pickles (``Gs``) and stylegan2-ada-pytorch snapshots (``G_ema``), rosinality
``.pt`` checkpoints (``g_ema``, or ``--key``), official pSp and e4e ``.pt`` encoders. A
generator becomes a PaddleGAN generator state dict (plus ``conv_clamp`` / ``w_avg`` entries
when the network has them); an encoder becomes PaddleGAN's pSp file (state dict + ``opts``).
Every tool also reads these files directly with ``--weight_path``; converting saves the
conversion time of each run. The output is named after its file (docs/models.md).
"""
import argparse
import os

import numpy as np
import paddle

from ..models.architecture import stylegan2_architecture
from ..models.formats import file_format, generator_file_content, read_any
from ..models.formats.rosinality import SUPPORTED, pick_generator, rosinality_to_paddle
from ..models.formats.torch_files import read_torch_checkpoint
from ..utils.checks import check_input_file
from ..utils.errors import UserError
from ..utils.fileio import atomic_path, check_writable_dir


def _as_tensors(content):
    """paddle.save-able content: numpy arrays as float32/int tensors, other values as they are."""
    return {key: paddle.to_tensor(value) if isinstance(value, np.ndarray) else value for key, value in content.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="checkpoint: NVIDIA .pkl, rosinality / pSp / e4e .pt")
    parser.add_argument("--output", required=True, help=".pdparams to write")
    parser.add_argument("--key", default=None,
                        help="rosinality .pt: entry holding the generator (default: g_ema, else the file itself)")
    args = parser.parse_args(argv)
    check_input_file("--input", args.input, "a checkpoint file")
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        raise UserError("--output is --input; write the converted file elsewhere")
    check_writable_dir(os.path.dirname(os.path.abspath(args.output)), "--output")
    if args.key is not None:
        if file_format(args.input) != "torch":
            raise UserError("--key picks an entry of a rosinality .pt checkpoint; leave it out for this file")
        kind, content = "generator", (rosinality_to_paddle(pick_generator(
            read_torch_checkpoint(args.input, SUPPORTED), args.key, args.input)), {})
    else:
        kind, content = read_any(args.input)
    state_dict, extra = content
    if kind == "generator":
        arch = stylegan2_architecture(state_dict, args.input)
        saved = generator_file_content(state_dict, extra)
        factor = f"channel_multiplier {arch['channel_multiplier']}" if arch["channel_multiplier"] else "custom widths"
        what = (f"{arch['size']} px, style_dim {arch['style_dim']}, n_mlp {arch['n_mlp']}, {factor}"
                + "".join(f", {key}" for key in saved if key not in state_dict))
    else:
        arch = stylegan2_architecture(state_dict, args.input, prefix="decoder.")
        saved = dict(state_dict, opts=extra)
        what = f"a {extra.get('encoder_type', 'pSp')} encoder for a {arch['size']} px decoder"
    with atomic_path(args.output) as tmp:
        paddle.save(_as_tensors(saved), tmp)
    print(f"wrote {args.output}: {what} ({len(state_dict)} tensors)")

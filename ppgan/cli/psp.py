"""Invert a face photo into StyleGAN2's W+ with pSp (``pixel2style2pixel.py``) or e4e (``encoder4editing.py``).

    python applications/tools/pixel2style2pixel.py --input_image PHOTO [--output_path output_dir]
        [--weight_path FILE | --model_type ffhq-inversion] [--no_align] [--landmark_model PATH] [--cpu]
    python applications/tools/encoder4editing.py --input_image PHOTO --weight_path E4E.pt [...]

Writes src.png (the aligned 256x256 face), dst.png (its reconstruction by the file's own decoder)
and dst.npy (W+ [n_latent, style_dim] with latent_avg, the input of styleganv2clip.py --latent),
or nothing on error. The weights: PaddleGAN's .pdparams or the official pSp / e4e .pt as released.
"""
import argparse
import os

from ..apps.pixel2style2pixel_predictor import Pixel2Style2PixelPredictor
from ..models.zoo import ENCODERS
from ..utils.checks import check_input_file, check_seed
from ..utils.fileio import check_output_files, check_writable_dir
from .common import add_generator_args, generator_spec, select_runtime

OUTPUT_NAMES = ("src.png", "dst.png", "dst.npy")
TOOLS = {"psp": ("pixel2style2pixel.py", "pSp"), "e4e": ("encoder4editing.py", "e4e (encoder4editing)")}


def parse_args(argv, encoder="psp"):
    script, name = TOOLS[encoder]
    parser = argparse.ArgumentParser(prog=script, description=f"Invert a face photo into StyleGAN2's W+ with {name}.")
    parser.add_argument("--input_image", required=True, help="photo with a face (the largest one is inverted)")
    parser.add_argument("--output_path", default="output_dir", help="folder for src.png, dst.png and dst.npy")
    parser.add_argument("--no_align", action="store_true",
                        help="the photo is an FFHQ-aligned crop already: only resize it to 256 x 256")
    parser.add_argument("--seed", type=int, default=None,
                        help="accepted for PaddleGAN compatibility; the output is deterministic (saved noise)")
    parser.add_argument("--landmark_model", default=None,
                        help="shape_predictor_68_face_landmarks.dat (default: from face-recognition-models)")
    add_generator_args(parser, "psp", f"released {name} model to download (a name of configs/*.yaml); the "
                       "decoder's architecture is read from the file", default_model=ENCODERS[encoder])
    return parser.parse_args(argv)


def main(argv=None, encoder="psp"):
    """The pSp tool (``encoder`` 'psp') or its e4e twin ('e4e')."""
    args = parse_args(argv, encoder)
    check_input_file("--input_image", args.input_image, "a photo (JPEG or PNG)")
    check_seed("--seed", args.seed)
    check_writable_dir(args.output_path)
    check_output_files([os.path.join(args.output_path, name) for name in OUTPUT_NAMES])
    select_runtime(args)
    predictor = Pixel2Style2PixelPredictor(args.output_path, landmark_model=args.landmark_model,
                                           spec=generator_spec(args, "psp", default_model=ENCODERS[encoder]))
    latent = predictor.run(args.input_image, align=not args.no_align)[2]
    print(f"wrote src.png, dst.png and dst.npy (W+ {list(latent.shape)}) to {args.output_path}")

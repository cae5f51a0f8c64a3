"""Invert a face photo into StyleGAN2's W+ with pSp.

    python applications/tools/pixel2style2pixel.py --input_image PHOTO [--output_path output_dir]
        [--weight_path FILE | --model_type ffhq-inversion] [--landmark_model PATH] [--cpu]

Writes src.png (the aligned 256x256 face), dst.png (its reconstruction) and
dst.npy (W+ [18, 512], the input of styleganv2clip.py --latent), or nothing on error.
"""
import argparse
import os

from ..apps.pixel2style2pixel_predictor import Pixel2Style2PixelPredictor
from ..utils.checks import check_input_file, check_seed
from ..utils.fileio import check_output_files, check_writable_dir
from ..utils import runtime
from .common import add_generator_args, generator_spec

OUTPUT_NAMES = ("src.png", "dst.png", "dst.npy")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input_image", required=True, help="photo with a face (the largest one is inverted)")
    parser.add_argument("--output_path", default="output_dir", help="folder for src.png, dst.png and dst.npy")
    parser.add_argument("--seed", type=int, default=None,
                        help="accepted for PaddleGAN compatibility; the output is deterministic (saved noise)")
    parser.add_argument("--landmark_model", default=None,
                        help="shape_predictor_68_face_landmarks.dat (default: from face-recognition-models)")
    add_generator_args(parser, "psp", "released pSp model to download (a name of configs/*.yaml); "
                       "the decoder's architecture is read from the file")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    check_input_file("--input_image", args.input_image, "a photo (JPEG or PNG)")
    check_seed("--seed", args.seed)
    check_writable_dir(args.output_path)
    check_output_files([os.path.join(args.output_path, name) for name in OUTPUT_NAMES])
    runtime.select_device(args.cpu)
    predictor = Pixel2Style2PixelPredictor(args.output_path, landmark_model=args.landmark_model,
                                           spec=generator_spec(args, "psp"))
    latent = predictor.run(args.input_image)[2]
    print(f"wrote src.png, dst.png and dst.npy (W+ {list(latent.shape)}) to {args.output_path}")

"""Fit StyleGAN2's W+ to a face photo by optimisation (PaddleGAN's flags).

    python applications/tools/styleganv2fitting.py --input_image PHOTO [--need_align] [--start_lr 0.1]
        [--final_lr 0.025] [--latent_level 0 1 2 3 4 5] [--step 100] [--mse_weight 1]
        [--pre_latent dst.npy | --encoder psp|e4e [--psp_weight_path FILE]] [--output_path output_dir]
        [model flags] [--cpu]

Writes src.fitting.png (the target), dst.fitting.png (the fitted render) and
dst.fitting.npy (W+ [18, 512], the input of styleganv2clip.py --latent), or nothing on error.
"""
import argparse
import os

from ..apps.styleganv2fitting_predictor import StyleGANv2FittingPredictor
from ..inversion import PhotoInverter
from ..inversion.fitting import check_fitting_options
from ..inversion.latents import load_latent_file
from ..models.zoo import ENCODERS, inverter_spec
from ..utils.errors import UserError
from ..utils.fileio import check_writable_dir
from .common import add_generator_args, generator_spec, select_runtime


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input_image", required=True, help="face photo (aligned already, or use --need_align)")
    parser.add_argument("--need_align", action="store_true", help="FFHQ-align the photo's largest face first")
    parser.add_argument("--start_lr", type=float, default=0.1, help="learning rate of the first step")
    parser.add_argument("--final_lr", type=float, default=0.025, help="learning rate of the last step")
    parser.add_argument("--latent_level", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5],
                        help="W+ rows to optimise (default 0 1 2 3 4 5)")
    parser.add_argument("--step", type=int, default=100, help="optimisation steps (default 100)")
    parser.add_argument("--mse_weight", type=float, default=1.0, help="weight of the MSE term (LPIPS: 1)")
    parser.add_argument("--pre_latent", default=None, help="starting W+ .npy (e.g. pSp's dst.npy; default mean W)")
    parser.add_argument("--encoder", choices=ENCODERS, default=None,
                        help="start from the photo's largest face inverted by this encoder (pSp or e4e) instead")
    parser.add_argument("--psp_weight_path", default=None,
                        help="with --encoder: its file, .pdparams or the official .pt (default: the released one)")
    parser.add_argument("--output_path", default="output_dir", help="folder for the three output files")
    parser.add_argument("--seed", type=int, default=None, help="accepted for PaddleGAN compatibility")
    parser.add_argument("--vgg_weight_path", default=None, help="LPIPS VGG16 file (default: vgg16_official release)")
    parser.add_argument("--lins_weight_path", default=None, help="LPIPS heads file (default: lins_0.1_vgg release)")
    parser.add_argument("--landmark_model", default=None, help="dlib 68-landmark model for --need_align")
    add_generator_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isfile(args.input_image):
        raise UserError(f"image {args.input_image} does not exist; check --input_image")
    if args.encoder is not None and args.pre_latent is not None:
        raise UserError("pass either --pre_latent or --encoder, not both")
    check_fitting_options(None, args.latent_level, args.step, args.start_lr, args.final_lr, args.mse_weight)
    check_writable_dir(args.output_path)
    pre_latent = None if args.pre_latent is None else load_latent_file(args.pre_latent, "--pre_latent")
    spec = generator_spec(args)
    psp = None if args.encoder is None else inverter_spec(spec, args.psp_weight_path, args.encoder)
    select_runtime(args)
    predictor = StyleGANv2FittingPredictor(args.output_path, vgg_weight_path=args.vgg_weight_path,
                                           lins_weight_path=args.lins_weight_path,
                                           landmark_model=args.landmark_model, spec=spec)
    if psp is not None:
        g = predictor.generator
        pre_latent = PhotoInverter(landmark_model=args.landmark_model, latent_shape=(g.n_latent, g.style_dim),
                                   spec=psp)(args.input_image)
    latent = predictor.run(args.input_image, args.need_align, args.start_lr, args.final_lr, args.latent_level,
                           args.step, args.mse_weight, pre_latent)
    print(f"wrote src.fitting.png, dst.fitting.png and dst.fitting.npy (W+ {list(latent.shape)}) "
          f"to {args.output_path}")

"""The editing page's command line (``applications/tools/styleclip_app.py``): ``app_parser`` and ``main``."""
import argparse

from ..apps.styleganv2clip_predictor import StyleGANv2ClipPredictor
from ..inversion import PhotoInverter
from ..models.zoo import ENCODERS, inverter_spec
from ..page.service import BETA_RANGE, PREVIEW_SIZE
from ..page.session import remove_export_folders
from ..styleclip.edit import DEFAULT_BETA, DEFAULT_STRENGTH, as_beta, as_strengths
from ..styleclip.text import TEMPLATE_SETS
from ..utils.checks import check_seed
from ..utils.model_thread import shared_model_thread
from .common import add_generator_args, check_port_free, generator_spec, select_runtime


def app_parser():
    """The app's flags: the edit command's model flags, the first face and edit, and where to listen."""
    parser = argparse.ArgumentParser(prog="styleclip_app.py", description="A local web page to edit StyleGAN2 faces "
                                     "with text (StyleCLIP global directions).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    parser.add_argument("--latent", default=None,
                        help="first face: W+ .npy [18,512] (the first of [N,18,512]; default: sampled from --seed)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first sampled face (default 0)")
    parser.add_argument("--neutral", default="face", help="first neutral description (default: face)")
    parser.add_argument("--target", default="", help="first target description, e.g. 'smiling face'")
    parser.add_argument("--beta_threshold", default=str(DEFAULT_BETA),
                        help=f"first beta ({BETA_RANGE[0]}..{BETA_RANGE[1]}), or auto (default {DEFAULT_BETA})")
    parser.add_argument("--direction_offset", type=float, default=DEFAULT_STRENGTH,
                        help=f"first strength strength (default {DEFAULT_STRENGTH:g})")
    parser.add_argument("--preview_size", type=int, default=PREVIEW_SIZE,
                        help=f"resolution of the preview while a slider moves (default {PREVIEW_SIZE})")
    parser.add_argument("--direction_path", default=None,
                        help="global directions: PaddleGAN .pdparams [C,512] or official fs3.npy "
                             "(default: the ffhq-config-f release)")
    parser.add_argument("--stat_path", default=None, help="S statistics, read with --scale_by_std")
    parser.add_argument("--scale_by_std", action="store_true",
                        help="official StyleCLIP convention: multiply each channel's edit by its std")
    parser.add_argument("--clip_weight_path", default=None, help="CLIP ViT-B-32 .pdparams (default: the release)")
    parser.add_argument("--templates", choices=TEMPLATE_SETS, default="paddlegan",
                        help="prompt templates: paddlegan (46) or official (79)")
    parser.add_argument("--psp_weight_path", default=None,
                        help="pSp or e4e file for photos, .pdparams or the official .pt (default: the inverter the "
                             "generator's config names; without one the page has no photo tab)")
    parser.add_argument("--encoder", choices=ENCODERS, default="psp",
                        help="the encoder family inverting photos (default psp; e4e's codes edit better)")
    parser.add_argument("--landmark_model", default=None, help="dlib 68-landmark model for photos")
    add_generator_args(parser)
    return parser


def main(argv=None):
    """Check the flags, load the models, serve the page until interrupted; then remove the page's export folders."""
    args = app_parser().parse_args(argv)
    beta = as_beta(args.beta_threshold)
    as_strengths(args.direction_offset)
    check_seed("--seed", args.seed)
    check_port_free(args.host, args.port)
    spec = generator_spec(args)
    psp = (inverter_spec(spec, args.psp_weight_path, args.encoder)
           if args.psp_weight_path or spec.inverter or args.encoder == "e4e" else None)
    model_thread = shared_model_thread()  # creates and runs every model of the page
    model_thread.call(select_runtime, args)
    predictor = model_thread.call(StyleGANv2ClipPredictor, direction_path=args.direction_path,
                                  stat_path=args.stat_path, clip_weight_path=args.clip_weight_path, seed=args.seed,
                                  templates=args.templates, scale_by_std=args.scale_by_std, spec=spec)
    latent = None if args.latent is None else model_thread.call(predictor.source_latents, args.latent)[0]
    g = predictor.generator
    inverter = None if psp is None else PhotoInverter(landmark_model=args.landmark_model, spec=psp,
                                                      latent_shape=(g.n_latent, g.style_dim))
    # Files named on the command line are read now, so a bad one is refused before the page is served;
    # released files are fetched on first use.
    if args.clip_weight_path:
        model_thread.call(lambda: predictor.text_direction)
    if args.psp_weight_path:
        model_thread.call(lambda: inverter.psp.model)
    from ..page.layout import build_app, launch_app  # Gradio takes seconds to import: once the models are loaded

    app = build_app(predictor, latent, args.neutral, args.target, args.direction_offset, beta, args.preview_size,
                    inverter)
    try:
        launch_app(app, server_name=args.host, server_port=args.port)  # returns when interrupted (Ctrl-C)
    finally:
        remove_export_folders()  # the page's exports, whichever way the server stops


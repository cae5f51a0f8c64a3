"""Shared pieces of the command line tools."""
import sys

from .errors import UserError


def run_cli(main, argv=None):
    """Run ``main(argv)``; a ``UserError`` becomes one line on stderr and exit status 2."""
    try:
        main(argv)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def add_generator_args(parser, default_model_type="ffhq-config-f",
                       model_help="released generator to download (ffhq-config-f, animeface-512)"):
    """The StyleGAN2 flags every tool shares (PaddleGAN's names and defaults)."""
    group = parser.add_argument_group("generator")
    group.add_argument("--model_type", default=default_model_type, help=model_help)
    group.add_argument("--weight_path", default=None, help="local .pdparams (wins over --model_type)")
    group.add_argument("--size", type=int, default=None, help="output resolution (default: that of --model_type)")
    group.add_argument("--style_dim", type=int, default=None, help="W dimension (default 512)")
    group.add_argument("--n_mlp", type=int, default=None, help="mapping layers (default 8)")
    group.add_argument("--channel_multiplier", type=int, default=None, help="config-f width factor (default 2)")
    group.add_argument("--channels", default=None,
                       help="widths of a custom generator, e.g. 4:512,8:512,16:256 (default: config-f table)")
    group.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is available")
    return group


def generator_kwargs(args):
    """The ``load_stylegan2`` keyword arguments of parsed ``add_generator_args`` flags."""
    return dict(model_type=args.model_type, weight_path=args.weight_path, size=args.size,
                style_dim=args.style_dim, n_mlp=args.n_mlp, channel_multiplier=args.channel_multiplier,
                channels=args.channels)

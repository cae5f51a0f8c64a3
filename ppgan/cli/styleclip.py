"""``styleganv2clip_predictor.py edit|extract``: PaddleGAN's runnable predictor module, dispatching to the commands."""
import argparse
import importlib

from ..utils.runtime import configure_cpu_runtime

COMMANDS = ("edit", "extract")  # modules of ppgan.cli


def main(argv=None):
    """Dispatch ``edit`` / ``extract`` with the remaining arguments."""
    parser = argparse.ArgumentParser(prog="styleganv2clip_predictor.py",
                                     description="Edit StyleGAN2 faces with text (StyleCLIP global directions).")
    parser.add_argument("command", choices=COMMANDS, help="edit: edit faces with text; extract: global directions")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the subcommand's flags (see COMMAND --help)")
    args = parser.parse_args(argv)
    return importlib.import_module(f"{__package__}.{args.command}").main(args.args)


def run():
    """Set up the CPU runtime (before Paddle loads), run ``main`` on ``sys.argv`` and exit with its status."""
    configure_cpu_runtime()
    from .common import run_cli

    run_cli(main)
    raise SystemExit(0)

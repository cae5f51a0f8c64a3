"""What every command shares: ``run_cli`` (UserError -> one line, exit 2; Ctrl-C and SIGTERM -> one line), the
generator flags, the port check."""
import errno
import sys

from ..models.zoo import DEFAULT_MODELS, model_spec
from ..utils import engines, runtime
from ..utils.checks import check_int
from ..utils.errors import UserError
from ..utils.signals import Terminated, handle_termination, termination_requested

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


def run_cli(main, argv=None):
    """Run ``main(argv)``; a ``UserError`` becomes one line on stderr (inputs named as flags) and exit status 2.

    Ctrl-C prints ``interrupted`` (exit 130) and SIGTERM ``terminated`` (exit 143), one line each: SIGTERM
    raises ``Terminated``, a ``KeyboardInterrupt``, so both stops run the same cleanups and keep the same
    resume files (``ppgan.utils.signals``). A SIGTERM that a library swallowed (Gradio's server loop) still
    ends in ``terminated``.
    """
    handle_termination()
    try:
        main(argv)
    except UserError as exc:
        print(f"error: {exc.as_flags()}", file=sys.stderr)
        sys.exit(2)
    except Terminated:
        _stop("terminated", EXIT_TERMINATED)
    except KeyboardInterrupt:
        _stop("interrupted", EXIT_INTERRUPTED)
    if termination_requested():
        _stop("terminated", EXIT_TERMINATED)


def _stop(word, status):
    print(word, file=sys.stderr)
    sys.exit(status)


def add_generator_args(parser, kind="stylegan2", model_help="released generator to download (a name of configs/*.yaml)",
                       default_model=None):
    """The model flags every tool shares (PaddleGAN's names, plus ``--config``) for a model of ``kind``.

    Architecture flags default to what the weights hold; given, they must agree with them.
    """
    group = parser.add_argument_group("generator")
    group.add_argument("--model_type", default=None, help=f"{model_help}; default {default_model or DEFAULT_MODELS[kind]}")
    group.add_argument("--config", default=None,
                       help="YAML file describing your own model (format: docs/models.md), instead of --model_type")
    group.add_argument("--weight_path", default=None, help="local .pdparams (wins over the weights of the model)")
    group.add_argument("--size", type=int, default=None, help="output resolution (default: read from the weights)")
    group.add_argument("--style_dim", type=int, default=None, help="W dimension (default: read from the weights)")
    group.add_argument("--n_mlp", type=int, default=None, help="mapping layers (default: read from the weights)")
    group.add_argument("--channel_multiplier", type=int, default=None,
                       help="config-f width factor (default: read from the weights)")
    group.add_argument("--channels", default=None,
                       help="widths per resolution, e.g. 4:512,8:512,16:256 (default: read from the weights)")
    group.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is available")
    group.add_argument("--engine", choices=engines.ENGINE_CHOICES, default=None,
                       help="what runs the renders on a CPU (default auto, or PPGAN_ENGINE: the fastest exact engine "
                            "of this machine, timed once; docs/speed.md)")
    group.add_argument("--precision", choices=engines.PRECISIONS, default=None,
                       help="bf16 renders on CPUs with AMX or AVX-512 BF16 (default auto, or PPGAN_PRECISION: bf16 "
                            "where the CPU has it, for extraction once a sample of its directions agrees with "
                            "fp32; fp32 elsewhere)")
    return group


def select_runtime(args):
    """Apply ``add_generator_args``' runtime flags: the render engine and precision, then the device (``--cpu``)."""
    engines.set_engine(args.engine, args.precision)
    return runtime.select_device(args.cpu)


def generator_spec(args, kind="stylegan2", weight_arg="{weight_path}", default_model=None):
    """The ``ppgan.models.zoo.ModelSpec`` (of ``kind``) of parsed ``add_generator_args`` flags; nothing is loaded.

    ``default_model``: the released model used when no model flag is given (default: the kind's default).
    """
    model_type = args.model_type
    if model_type is None and args.config is None and args.weight_path is None:
        model_type = default_model
    return model_spec(kind, model_type, args.weight_path, args.config, args.size, args.style_dim,
                      args.n_mlp, args.channel_multiplier, args.channels, weight_arg)


def check_port_free(host, port, port_flag="--port", host_flag="--host"):
    """Raise UserError, before any model loads, if ``host:port`` cannot be listened on (taken, bad address)."""
    import socket

    check_int(port_flag, port, 1, 65535)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(f"{host_flag} {host} is not an address of this machine ({exc}); "
                        f"pass e.g. {host_flag} 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} on {host} is already in use; pick another with {port_flag}, "
                                f"e.g. {port_flag} {port + 1 if port < 65535 else 7860}") from None
            raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}); "
                            f"pick another {port_flag} or {host_flag}") from None

"""Build models from a ``ModelSpec``: the architecture is read from the weights, the spec's claims checked against it."""
import paddle

from ..utils.checkpoint import load_state_dict_strict
from ..utils.errors import UserError
from .architecture import CONVERT_HINT, stylegan2_architecture
from .formats import read_generator, read_psp_file
from .generators import Pixel2Style2Pixel, StyleGANv2Generator
from .generators.generator_styleganv2 import default_channels
from .zoo import model_spec, resolve

GENERATOR_PREFIXES = ("style.", "input.", "conv1.", "to_rgb1.", "convs.", "to_rgbs.", "noises.")


def _describe(arch):
    widths = ",".join(f"{res}:{width}" for res, width in sorted(arch["channels"].items()))
    factor = (f"channel_multiplier {arch['channel_multiplier']}" if arch["channel_multiplier"]
              else "widths outside config-f's table")
    return (f"a {arch['size']} px generator with style_dim {arch['style_dim']}, n_mlp {arch['n_mlp']}, "
            f"{factor} (widths {widths})")


def check_claims(arch, claims, source, weight_arg):
    """Raise a UserError naming the first input or config whose claim the weights contradict."""
    for key, value, claimant in claims:
        if key == "channel_multiplier":
            expected = default_channels(value)
            agrees = all(expected.get(res) == width for res, width in arch["channels"].items())
        elif key == "channels":
            agrees = all(arch["channels"].get(res, width) == width for res, width in value.items())
            value = ",".join(f"{res}:{width}" for res, width in sorted(value.items()))
        else:
            agrees = arch[key] == value
        if not agrees:
            raise UserError(f"{claimant} says {key} {value}, but {source} holds {_describe(arch)}; "
                            f"drop or correct {claimant.split()[0]}, or pass the matching weights with {weight_arg}")
    if arch["size"] < 8:
        raise UserError(f"{source} holds no synthesis block (4 px); it is not a usable StyleGAN2 generator")


def _generator_key_is_foreign(key):
    """Keys a generator file may carry beyond the model: other networks' weights and blur-kernel buffers."""
    return not key.startswith(GENERATOR_PREFIXES) or key.endswith(".blur.kernel")


def _read_state_dict(spec, reader, wanted):
    """(path, state dict, extra) of ``spec``'s weights (resolved: file, cache or download) read by ``reader``
    (``formats.read_generator`` or ``formats.read_psp_file``); a file holding anything but a dict is refused
    with "<path> holds a <type>, not ``wanted``"."""
    path = resolve(spec.weights, arg=spec.weight_arg)
    state_dict, extra = reader(path, spec.weight_arg)
    if not isinstance(state_dict, dict):
        raise UserError(f"{path} holds a {type(state_dict).__name__}, not {wanted}")
    return path, state_dict, extra


def load_stylegan2(spec=None, **flags):
    """A StyleGANv2Generator in eval mode, its architecture read from the weights of ``spec``.

    ``spec``: a ``ModelSpec`` of kind stylegan2 (default: ``model_spec("stylegan2", **flags)``
    with PaddleGAN's argument names: model_type, weight_path, config, size, style_dim, n_mlp,
    channel_multiplier, channels). The file may be any format of ``ppgan.models.formats``
    (PaddleGAN's, NVlabs pickles, rosinality ``.pt``); its options (``conv_clamp``, ``w_avg``) are
    applied. Claims of the spec that the file contradicts, and keys of the generator the model would
    leave unused, raise a UserError naming the input.
    """
    spec = spec or model_spec("stylegan2", **flags)
    path, state_dict, options = _read_state_dict(spec, read_generator, f"a generator state dict; pass a StyleGAN2 "
                                                 f"generator with {spec.weight_arg} ({CONVERT_HINT})")
    arch = stylegan2_architecture(state_dict, path)
    check_claims(arch, spec.claims, path, spec.weight_arg)
    with paddle.LazyGuard():  # every parameter is overwritten by the strict load: skip the random initialisation
        generator = StyleGANv2Generator(arch["size"], arch["style_dim"], arch["n_mlp"], channels=arch["channels"],
                                        conv_clamp=options.get("conv_clamp"))
    load_state_dict_strict(generator, state_dict, source=path, arg=spec.weight_arg,
                           foreign=_generator_key_is_foreign)
    if options.get("w_avg") is not None:
        generator.set_w_avg(options["w_avg"])
    generator.eval()
    return generator


def load_psp(spec=None, **flags):
    """A Pixel2Style2Pixel in eval mode; ``spec`` of kind psp (default: ``model_spec("psp", **flags)``).

    The file is PaddleGAN's (a state dict plus ``opts``, PaddleGAN's pSp options, for the encoder) or an
    official pSp / e4e ``.pt`` (``formats.read_psp_file``); the decoder's architecture is read from its ``decoder.*`` weights and checked
    against the spec's claims.
    """
    spec = spec or model_spec("psp", **flags)
    path, state_dict, file_opts = _read_state_dict(spec, read_psp_file,
                                                   f"a pSp state dict; pass a pSp file with {spec.weight_arg}")
    arch = stylegan2_architecture(state_dict, path, prefix="decoder.")
    check_claims(arch, spec.claims, path, spec.weight_arg)
    opts = {**file_opts, **{key: arch[key] for key in ("size", "style_dim", "n_mlp", "channels")}}
    try:
        # Every parameter is overwritten by the strict load: skip the random initialisation (~20 s for ffhq).
        with paddle.LazyGuard():
            model = Pixel2Style2Pixel(opts)
    except ValueError as exc:
        raise UserError(f"cannot build pSp from {path}: {exc}") from exc
    load_state_dict_strict(model, state_dict, source=path, arg=spec.weight_arg,
                           foreign=lambda key: not key.startswith(("encoder.", "decoder.", "latent_avg"))
                           or key.endswith(".blur.kernel"))
    model.eval()
    return model

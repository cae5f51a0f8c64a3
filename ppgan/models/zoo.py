"""The model registry (one YAML file per released model in ``configs/``) and the spec of the model a command runs.

A config file (docs/models.md has the full format)::

    name: ffhq-config-f          # --model_type; names the outputs of the StyleCLIP steps
    kind: stylegan2              # stylegan2 | psp | clip | lpips
    weights: {file: NAME.pdparams, url: URL, md5: null}   # a release; or {path: local.pdparams}
    architecture: {size: 1024, style_dim: 512, n_mlp: 8, channel_multiplier: 2}    # checked against the file
    styleclip: {directions: {file, url, md5}, stats: {file, url, md5}}              # optional, generators
    inverter: ffhq-inversion     # optional: the pSp model inverting photos into this generator
    decoder: ffhq-config-f       # pSp only: the generator it inverts into

This module is the only place that knows model names, files, URLs and md5s; the
download resolver (``ppgan.utils.download``) fetches what it is handed.
"""
import dataclasses
import functools
import glob
import os
import re

from ..utils.download import Weight, resolve_weights
from ..utils.errors import UserError

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# configs/ of the clone, or its copy installed as ppgan/configs by a non-editable install
CONFIG_DIR = next((folder for folder in (os.path.join(os.path.dirname(_PACKAGE), "configs"),
                                         os.path.join(_PACKAGE, "configs")) if os.path.isdir(folder)),
                  os.path.join(os.path.dirname(_PACKAGE), "configs"))
KINDS = ("stylegan2", "psp", "clip", "lpips")
DEFAULT_MODELS = {"stylegan2": "ffhq-config-f", "psp": "ffhq-inversion", "clip": "ViT-B-32"}  # the one default of each kind
ENCODERS = {"psp": "ffhq-inversion", "e4e": "ffhq-e4e"}  # the released encoder of each family (--encoder)
STYLECLIP_FILE_ARGS = {"directions": "{direction_path}", "stats": "{stat_path}"}  # the inputs that override them
ARCHITECTURE_KEYS = ("size", "style_dim", "n_mlp", "channel_multiplier", "channels")
FIELDS = {"name", "kind", "weights", "architecture", "styleclip", "inverter", "decoder", "description"}
MD5_PATTERN = re.compile(r"[0-9a-f]{32}")
URL_PATTERN = re.compile(r"(https?|file)://\S+")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One config file: a model's name and kind, where its weights are, what they must look like, related files.

    ``weights``, ``directions`` and ``stats`` are a ``Weight`` (a release the resolver downloads)
    or a str (a local file named by a user's config, relative paths resolved from its folder).
    ``architecture`` holds (key, value) pairs of ``ARCHITECTURE_KEYS``.
    """

    name: str
    kind: str
    weights: object
    source: str
    architecture: tuple = ()
    directions: object = None
    stats: object = None
    inverter: str = None
    decoder: str = None


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a command loads, built once from its flags (``model_spec``) and passed to every predictor.

    ``weights``: a local path (str) or a release (``Weight``); ``weight_arg`` names the input
    that sets it in errors. ``claims``: (key, value, source) architecture facts the weights
    must agree with (``source`` is the input or config that asserted them). ``name`` names
    the outputs (``--dataset_name``); ``directions`` / ``stats``: the StyleCLIP files made
    for the model, if any; ``inverter``: the registry name of its pSp model.
    """

    kind: str
    name: str
    weights: object
    weight_arg: str = "{weight_path}"
    claims: tuple = ()
    directions: object = None
    stats: object = None
    inverter: str = None


def _check_release(entry, where):
    file, url, md5 = entry.get("file"), entry.get("url"), entry.get("md5")
    if not isinstance(file, str) or not file or os.path.basename(file) != file:
        raise UserError(f"{where}: 'file' must be a bare file name, got {file!r}")
    if not isinstance(url, str) or not URL_PATTERN.fullmatch(url):
        raise UserError(f"{where}: 'url' must be an http(s):// or file:// URL, got {url!r}")
    if md5 is not None and not (isinstance(md5, str) and MD5_PATTERN.fullmatch(md5)):
        raise UserError(f"{where}: 'md5' must be 32 lowercase hex digits or null, got {md5!r}")
    return Weight(file, md5, url)


def _file_entry(entry, where, folder):
    """A config's file entry -> Weight (``file``, ``url``, ``md5``) or local path (``path``)."""
    if not isinstance(entry, dict):
        raise UserError(f"{where} must be a mapping with 'path', or 'file', 'url' and 'md5'")
    if "path" in entry:
        if not isinstance(entry["path"], str) or set(entry) != {"path"}:
            raise UserError(f"{where}: give either 'path' (a local file) or 'file', 'url' and 'md5'")
        return os.path.normpath(os.path.join(folder, os.path.expanduser(entry["path"])))
    unknown = set(entry) - {"file", "url", "md5"}
    if unknown:
        raise UserError(f"{where}: unknown fields {', '.join(sorted(unknown))}; use file, url and md5 (or path)")
    return _check_release(entry, where)


def _architecture(entry, where):
    if entry is None:
        return ()
    if not isinstance(entry, dict) or set(entry) - set(ARCHITECTURE_KEYS):
        raise UserError(f"{where}: 'architecture' must map some of {', '.join(ARCHITECTURE_KEYS)} to values")
    values = dict(entry)
    if "channels" in values:
        values["channels"] = parse_channels(values["channels"], f"{where}: channels")
    check_architecture_values(values, lambda key: f"{where}: {key}")
    return tuple((key, values[key]) for key in ARCHITECTURE_KEYS if key in values)


def parse_config(path):
    """Read and check one config file; raises a UserError naming the file and the field at fault."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise UserError(f"config {path} cannot be read ({exc.strerror}); pass an existing YAML file") from exc
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        at = f" at line {line + 1}" if line is not None else ""
        raise UserError(f"config {path} is not valid YAML{at}; check its syntax (docs/models.md)") from exc
    if not isinstance(data, dict):
        raise UserError(f"config {path} is not a mapping of fields; see docs/models.md for the format")
    unknown = set(data) - FIELDS
    if unknown:
        raise UserError(f"config {path}: unknown fields {', '.join(sorted(unknown))}; see docs/models.md")
    name, kind = data.get("name"), data.get("kind", "stylegan2")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise UserError(f"config {path}: 'name' must be letters, digits, '.', '_' or '-', got {name!r}")
    if kind not in KINDS:
        raise UserError(f"config {path}: 'kind' {kind!r} is not one of {', '.join(KINDS)}")
    if "weights" not in data:
        raise UserError(f"config {path}: 'weights' is missing; give its path, or file, url and md5")
    folder = os.path.dirname(os.path.abspath(path))
    styleclip = data.get("styleclip") or {}
    if not isinstance(styleclip, dict) or set(styleclip) - {"directions", "stats"}:
        raise UserError(f"config {path}: 'styleclip' may only hold 'directions' and 'stats'")
    related = {key: _file_entry(styleclip[key], f"config {path}: styleclip.{key}", folder)
               for key in ("directions", "stats") if key in styleclip}
    return ModelConfig(name=name, kind=kind, source=path,
                       weights=_file_entry(data["weights"], f"config {path}: weights", folder),
                       architecture=_architecture(data.get("architecture"), f"config {path}"),
                       inverter=data.get("inverter"), decoder=data.get("decoder"), **related)


@functools.lru_cache(maxsize=None)
def registry(config_dir=CONFIG_DIR):
    """Every released model: {(kind, name): ModelConfig} from ``config_dir``/*.yaml."""
    configs = {}
    for path in sorted(glob.glob(os.path.join(config_dir, "*.yaml"))):
        config = parse_config(path)
        key = (config.kind, config.name)
        if key in configs:
            raise UserError(f"configs {configs[key].source} and {path} both define {config.kind} {config.name!r}")
        configs[key] = config
    return configs


def release_file(kind, name=None, path=None, arg="{weight_path}"):
    """A local file of the released model ``name`` of ``kind`` (default: the kind's default model), downloaded
    once; ``path``, when given, instead (e.g. CLIP: ``release_file("clip", path=clip_weight_path)``)."""
    return resolve(find_model(kind, name or DEFAULT_MODELS[kind]).weights, path, arg)


def find_model(kind, name, arg="{model_type}"):
    """The registry config of ``kind`` called ``name``; the error lists the choices."""
    config = registry().get((kind, name))
    if config is None:
        names = sorted(n for k, n in registry() if k == kind)
        raise UserError(f"unknown {arg} {name}; use one of {', '.join(names)}, describe your model with "
                        f"{{config}} FILE.yaml, or pass {{weight_path}}")
    return config


def parse_channels(value, arg="{channels}"):
    """``"4:512,8:256"`` (or a mapping) -> {4: 512, 8: 256}, the widths per resolution."""
    try:
        if isinstance(value, dict):
            return {int(res): int(width) for res, width in value.items()}
        return {int(res): int(width) for res, width in (item.split(":") for item in str(value).split(","))}
    except (TypeError, ValueError):
        raise UserError(f"{arg} {value!r} is not a list like 4:512,8:512,16:256") from None


def check_architecture_values(values, label=lambda key: f"{{{key}}}"):
    """Reject impossible architecture values (``label(key)`` names the input or config field)."""
    size = values.get("size")
    if size is not None and (size < 8 or size & (size - 1)):
        raise UserError(f"{label('size')} {size} is not a power of 2 of at least 8; pass the generator's resolution "
                        "(e.g. 256, 512, 1024) or leave it out to read it from the weights")
    for key, lowest in (("style_dim", 1), ("n_mlp", 0), ("channel_multiplier", 1)):
        value = values.get(key)
        if value is not None and value < lowest:
            raise UserError(f"{label(key)} {value} must be at least {lowest}; "
                            "leave it out to read it from the weights")
    channels = values.get("channels")
    if channels is not None:
        bad = [f"{res}:{width}" for res, width in channels.items()
               if res < 4 or res & (res - 1) or width < 1]
        if bad:
            raise UserError(f"{label('channels')} has impossible entries {', '.join(bad)}; "
                            "resolutions are powers of 2 from 4, widths positive")


def name_from_file(path):
    """Model name of a weight file without a config: its file name, minus the extension and a 'stylegan2-' prefix."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem[len("stylegan2-"):] if stem.startswith("stylegan2-") and len(stem) > len("stylegan2-") else stem


def model_spec(kind="stylegan2", model_type=None, weight_path=None, config=None, size=None, style_dim=None,
               n_mlp=None, channel_multiplier=None, channels=None, weight_arg="{weight_path}"):
    """The ``ModelSpec`` of a command's flags (PaddleGAN's names, plus ``--config``).

    ``--config FILE`` or ``--model_type NAME`` (default: the registry's default of
    ``kind``) give the name, weights, expected architecture and related files;
    ``--weight_path`` wins over their weights. With ``--weight_path`` alone the model
    is named after the file (a released file name keeps its release's name and files).
    Architecture flags given must agree with the weights when they load.
    """
    if channels is not None:
        channels = parse_channels(channels)
    flags = {key: value for key, value in dict(size=size, style_dim=style_dim, n_mlp=n_mlp,
                                                channel_multiplier=channel_multiplier, channels=channels).items()
             if value is not None}
    check_architecture_values(flags)
    if config is not None and model_type is not None:
        raise UserError("pass either {config} or {model_type}, not both")
    if weight_path is not None:
        weight_path = os.path.expanduser(weight_path)
        if not os.path.isfile(weight_path):
            raise UserError(f"{weight_arg} {weight_path} is not an existing file; pass the path of a weight file")
    if config is not None:
        model, source = parse_config(config), f"{{config}} {config}"
        if model.kind != kind:
            raise UserError(f"{{config}} {config} describes a {model.kind} model; this tool needs a {kind} model")
    elif model_type is not None or weight_path is None:
        model = find_model(kind, model_type or DEFAULT_MODELS[kind])
        source = f"{{model_type}} {model.name}"
    else:
        model = next((m for m in registry().values() if m.kind == kind and isinstance(m.weights, Weight)
                      and m.weights.file == os.path.basename(weight_path)), None)
        source = None  # a file that merely bears a release's name asserts no architecture
    architecture = dict(model.architecture) if model is not None and source is not None else {}
    if kind == "psp" and model is not None and source is not None and model.decoder is not None:
        architecture = {**dict(find_model("stylegan2", model.decoder, f"{model.source}: decoder").architecture),
                        **architecture}
    claims = tuple((key, value, f"{{{key}}}") for key, value in flags.items())
    claims += tuple((key, value, source) for key, value in architecture.items() if key not in flags)
    if weight_path is not None:
        weights = weight_path
    elif isinstance(model.weights, str):
        weights = model.weights
        if not os.path.isfile(weights):
            raise UserError(f"{model.source}: weights path {weights} is not an existing file; fix the config")
    else:
        weights = model.weights
    name = model.name if model is not None else name_from_file(weight_path)
    if model is None:
        return ModelSpec(kind, name, weights, weight_arg, claims)
    return ModelSpec(kind, name, weights, weight_arg, tuple(claims), model.directions, model.stats, model.inverter)


def resolve(entry, path=None, arg="{weight_path}"):
    """A local file for a spec's entry: ``path`` if given, else the entry's local path or downloaded release."""
    if path is None and isinstance(entry, str):
        if not os.path.isfile(entry):
            raise UserError(f"{entry} is not an existing file; check the config or pass {arg} PATH")
        return entry
    return resolve_weights(entry, path, arg=arg)


def styleclip_file(path, spec, kind):
    """A local file of ``kind`` ('directions' or 'stats'): ``path``, or the one the model's config names."""
    entry, arg = getattr(spec, kind), STYLECLIP_FILE_ARGS[kind]
    if path is None and entry is None:
        raise UserError(f"the model {spec.name} has no StyleCLIP {kind} file in its config; make one "
                        f"(styleclip_getf.py, then extract: docs/models.md) and pass {arg} PATH")
    return resolve(entry, path, arg=arg)


def inverter_spec(generator_spec, psp_weight_path=None, encoder="psp"):
    """The spec of the encoder inverting photos into ``generator_spec``'s W+: ``psp_weight_path``, else for
    ``encoder`` 'psp' the inverter the generator's config names, for 'e4e' the released e4e of that generator."""
    if psp_weight_path is not None:
        return model_spec("psp", None, psp_weight_path, weight_arg="{psp_weight_path}")
    if encoder == "e4e":
        released = find_model("psp", ENCODERS["e4e"])
        if released.decoder != generator_spec.name:
            raise UserError(f"no released e4e model inverts photos into {generator_spec.name}; pass an e4e .pt "
                            "with {psp_weight_path}, or {latent} instead of a photo")
        return model_spec("psp", released.name, weight_arg="{psp_weight_path}")
    if generator_spec.inverter is None:
        raise UserError(f"no pSp model inverts photos into {generator_spec.name} (its config names no inverter); "
                        "pass {psp_weight_path}, or {latent} instead of a photo")
    return model_spec("psp", generator_spec.inverter, weight_arg="{psp_weight_path}")

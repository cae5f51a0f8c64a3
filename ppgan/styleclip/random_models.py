"""Random-weight models, and a folder of them laid out as a mirror of the releases (``PPGAN_MODEL_BASE_URL``).

To try the tools without downloading (offline, behind a firewall) and for the tests:
``write_random_mirror(folder)`` writes, under the release file names of ``configs/``, random
weights for the default models the README's commands download: the default generator at its
config's size, the StyleCLIP directions for it, its pSp inverter and the released e4e (both
decoding into that generator, with its mean W as ``latent_avg``), CLIP ViT-B/32 and the two
LPIPS files. A release whose config pins an md5 (the StyleCLIP statistics) cannot be made up:
it is copied from the repository's copy of the real file (``RELEASE_COPIES``, tests/fixtures).
Every state dict written carries ``RANDOM_WEIGHTS_KEY``, so the tools say so when they load it;
the folder's ``README.txt`` says so too. The directions file is a bare tensor and has no room for it.

Faces drawn with these weights are noise and edits have no meaning: the files only let every
command run. The builders (``random_generator``, ``random_directions``, ``random_psp``) are the
tests' random models too.
"""
import collections
import functools
import hashlib
import os
import shutil

import numpy as np
import paddle
from tqdm import tqdm

from ..metrics.lpips import LINS_MODEL, LPIPS, VGG_MODEL
from ..models.generators import Pixel2Style2Pixel, StyleGANv2Generator
from ..models.zoo import CONFIG_DIR, DEFAULT_MODELS, ENCODERS, find_model
from ..utils.checkpoint import RANDOM_WEIGHTS_KEY
from ..utils.download import Weight
from ..utils.errors import UserError
from ..utils.fileio import atomic_path
from .clip.encoder import build_clip_model
from .directions import CLIP_DIM

# the repository's copies of released files (tests/fixtures/README.md says where each comes from)
RELEASE_COPIES = os.path.join(os.path.dirname(CONFIG_DIR), "tests", "fixtures")
MEAN_W_SAMPLES = 10000  # z mapped to make a random pSp's latent_avg, the decoder's mean W
ENCODER_BATCHNORM_SCALE = 0.3  # keeps a random IR-SE-50's activations (and so its W+ codes) near unit size
NOTICE = ("These are RANDOM weights: every face they draw is noise and every edit is meaningless. "
          "They let every command run without downloading; they are no model.")

MirrorFile = collections.namedtuple("MirrorFile", "weight what content")
MirrorFile.__doc__ = ("One file of the mirror: its release (``Weight``), what it holds, and ``content()``: the object "
                      "to save, or the path of a real copy to copy.")


def random_generator(size, style_dim, n_mlp, channel_multiplier=2, channels=None, seed=0):
    """A StyleGANv2Generator with Paddle's random initialisation from ``seed`` (reseeds Paddle), in eval mode."""
    paddle.seed(seed)
    generator = StyleGANv2Generator(size, style_dim, n_mlp, channel_multiplier, channels=channels)
    generator.eval()
    return generator


def random_directions(generator, seed=0):
    """Random unit global directions for ``generator``: float32 [non-toRGB style channels, CLIP_DIM]."""
    rows = sum(generator.channels_lst[i] for i in generator.style_layers)
    directions = np.random.default_rng(seed).standard_normal((rows, CLIP_DIM)).astype(np.float32)
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


def random_psp(opts, decoder=None, seed=0):
    """A random Pixel2Style2Pixel built from ``opts`` (reseeds Paddle), BatchNorm scales at ENCODER_BATCHNORM_SCALE.

    ``decoder``: a generator of the decoder's architecture whose weights the pSp takes over, its mean W
    becoming ``latent_avg`` (as a trained pSp's decoder is the generator it inverts into); without it the
    decoder is random and ``latent_avg`` zero.
    """
    paddle.seed(seed)
    model = Pixel2Style2Pixel(opts)
    for layer in model.encoder.sublayers():
        if isinstance(layer, paddle.nn.BatchNorm2D):
            layer.weight.set_value(paddle.full(layer.weight.shape, ENCODER_BATCHNORM_SCALE))
    if decoder is not None:
        model.decoder.set_state_dict(decoder.state_dict())
        if model.opts.start_from_latent_avg:
            mean_w = decoder.mean_latent(MEAN_W_SAMPLES, seed=seed)
            model.latent_avg.set_value(paddle.tile(mean_w[None], [1, model.n_latent, 1]))
    model.eval()
    return model


def _psp_file_content(generator, architecture, encoder_type, label, seed):
    """What a PaddleGAN pSp file decoding into ``generator`` (of ``architecture``) holds: the state dict, ``opts``
    and the random-weights label."""
    opts = {"encoder_type": encoder_type, "input_nc": 3, "start_from_latent_avg": True, "learn_in_w": False,
            "output_size": generator.size}
    model = random_psp(dict(opts, size=generator.size, style_dim=generator.style_dim,
                            n_mlp=architecture["n_mlp"], channels=generator.channels), generator, seed)
    return dict(model.state_dict(), opts=opts, **{RANDOM_WEIGHTS_KEY: label})


def _lpips_contents(label):
    """(VGG16 file, heads file) contents: random features in PaddleGAN's ``features.{i}`` names, non-negative heads
    (so that LPIPS stays a distance)."""
    model = LPIPS()
    vgg = {f"features.{key}": value for key, value in model.features.state_dict().items()}
    heads = {key: value.abs() for key, value in model.lins.state_dict().items()}
    return dict(vgg, **{RANDOM_WEIGHTS_KEY: label}), dict(heads, **{RANDOM_WEIGHTS_KEY: label})


def _file_md5(path):
    md5 = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            md5.update(chunk)
    return md5.hexdigest()


def released_copy(weight):
    """The repository's copy of the real file of ``weight`` (a release pinned by md5); UserError when absent."""
    path = os.path.join(RELEASE_COPIES, weight.file)
    if not (os.path.isfile(path) and _file_md5(path) == weight.md5):
        raise UserError(f"{weight.file} is pinned to md5 {weight.md5} by its config, so it cannot be made up, and "
                        f"{path} is not that file; download it from {weight.url}")
    return path


def generator_architecture(size=None):
    """The default generator's architecture (its config's), at ``size`` when given."""
    config = find_model("stylegan2", DEFAULT_MODELS["stylegan2"])
    return dict(config.architecture, **({"size": size} if size else {}))


def mirror_files(size=None, seed=0):
    """The files of the random mirror, in writing order: a list of ``MirrorFile``.

    ``size``: the generator's resolution (default: its config's; other sizes keep the config's other values and
    are for tests, whose tools then take the same size). Files pinned by md5 are looked up at once.
    """
    config = find_model("stylegan2", DEFAULT_MODELS["stylegan2"])
    architecture = generator_architecture(size)
    label = f"made by tools/random_mirror.py, seed {seed}"
    pinned = {kind: released_copy(getattr(config, kind)) for kind in ("directions", "stats")
              if isinstance(getattr(config, kind), Weight) and getattr(config, kind).md5}
    generator = random_generator(architecture["size"], architecture["style_dim"], architecture["n_mlp"],
                                 architecture.get("channel_multiplier", 2), architecture.get("channels"), seed)
    files = [MirrorFile(config.weights, f"generator {config.name}, {generator.size} px",
                        lambda: dict(generator.state_dict(), **{RANDOM_WEIGHTS_KEY: label}))]
    for kind, what in (("directions", "StyleCLIP global directions"), ("stats", "StyleCLIP statistics")):
        if kind in pinned:
            files.append(MirrorFile(getattr(config, kind), f"{what} of {config.name} (the real released file)",
                                    lambda path=pinned[kind]: path))
        elif kind == "directions":
            files.append(MirrorFile(config.directions, f"{what} of {config.name}",
                                    lambda: paddle.to_tensor(random_directions(generator, seed))))
    encoders = [find_model("psp", name) for name in dict.fromkeys([config.inverter, ENCODERS["e4e"]]) if name]
    for encoder in (e for e in encoders if e.decoder == config.name):
        encoder_type = "Encoder4Editing" if encoder.name == ENCODERS["e4e"] else "GradualStyleEncoder"
        files.append(MirrorFile(encoder.weights, f"{encoder_type} {encoder.name} (a Paddle file whatever its name)",
                                lambda kind=encoder_type: _psp_file_content(generator, architecture, kind, label, seed)))
    clip = find_model("clip", DEFAULT_MODELS["clip"])
    files.append(MirrorFile(clip.weights, f"CLIP {clip.name}", lambda: _random_clip_content(label, seed)))
    lpips = functools.cache(lambda: _lpips_contents(label))
    for index, name in enumerate((VGG_MODEL, LINS_MODEL)):
        files.append(MirrorFile(find_model("lpips", name).weights, f"LPIPS {name}", lambda i=index: lpips()[i]))
    return files


def _random_clip_content(label, seed):
    """A random ViT-B/32 state dict (from ``seed``, reseeding Paddle) with the random-weights label."""
    paddle.seed(seed)
    return dict(build_clip_model().state_dict(), **{RANDOM_WEIGHTS_KEY: label})


def mirror_readme(files, size):
    """The text of the mirror's README.txt: what it is, how to use it, its files."""
    rows = "\n".join(f"  {entry.weight.file}: {entry.what}" for entry in files)
    return (f"{NOTICE}\n\nA mirror of the model releases for PPGAN_MODEL_BASE_URL, written by "
            f"tools/random_mirror.py (generator at {size} px). Use it from the repository root with\n\n"
            f"  export PPGAN_MODEL_BASE_URL=file://<this folder> PPGAN_HOME=<this folder>/cache\n\n"
            "and every command of the README runs as written, downloading from this folder into its cache "
            f"(the e4e command reads {find_model('psp', ENCODERS['e4e']).weights.file} from the current folder: "
            "copy it there). Keep "
            "PPGAN_HOME apart from your real cache (~/.cache/ppgan): the cache knows files by name only. "
            "The tools print a note when they load one of these files (the directions file excepted).\n\n"
            f"Files:\n{rows}\n  README.txt: this text\n")


def write_random_mirror(folder, size=None, seed=0):
    """Write the random mirror into ``folder`` (each file atomically, a progress bar on stderr); return
    [(path, bytes)] of the files written, README.txt last."""
    files = mirror_files(size, seed)
    written = []
    with tqdm(files, desc="random mirror", unit="file") as bar:
        for entry in bar:
            bar.set_postfix_str(entry.weight.file)
            path = os.path.join(folder, entry.weight.file)
            content = entry.content()
            with atomic_path(path) as tmp:
                if isinstance(content, str):
                    shutil.copyfile(content, tmp)
                else:
                    paddle.save(content, tmp)
            written.append((path, os.path.getsize(path)))
    readme = os.path.join(folder, "README.txt")
    with atomic_path(readme) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(mirror_readme(files, generator_architecture(size)["size"]))
    written.append((readme, os.path.getsize(readme)))
    return written

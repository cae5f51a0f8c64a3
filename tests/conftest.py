"""Shared test setup: the tools' CPU runtime, an isolated weight cache, small random generators, the tools' mains."""
import contextlib
import importlib.util
import os
import re

from ppgan.utils.runtime import configure_cpu_runtime

configure_cpu_runtime()  # as the tools run, before paddle loads
# Renders run on Paddle Inference unless a run asks for another engine (PPGAN_ENGINE=onnxruntime pytest ...):
# tests/test_engines.py checks every engine and the automatic choice on its own.
os.environ.setdefault("PPGAN_ENGINE", "paddle")

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import pytest  # noqa: E402

from ppgan.utils.errors import UserError  # noqa: E402

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.path.join(REPO_ROOT, "tests", "fixtures")

SMALL_CHANNELS = {4: 32, 8: 32, 16: 16, 32: 16, 64: 8}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: full-size checks that take minutes (run with -m slow)")


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Keep downloads and compiled programs of the tests out of the user's ~/.cache/ppgan."""
    home = str(tmp_path_factory.mktemp("ppgan_home"))
    previous = os.environ.get("PPGAN_HOME")
    os.environ["PPGAN_HOME"] = home
    yield home
    if previous is None:
        os.environ.pop("PPGAN_HOME", None)
    else:
        os.environ["PPGAN_HOME"] = previous


@pytest.fixture
def small_generator():
    """A random 64 px generator with narrow layers (fast), in eval mode."""
    from ppgan.styleclip.random_models import random_generator

    return random_generator(64, 64, 2, channels=SMALL_CHANNELS)


@pytest.fixture(scope="session")
def small_generator_weights(tmp_path_factory):
    """The weights of ``small_generator`` in a .pdparams file (flags: ``SMALL_FLAGS``)."""
    from ppgan.styleclip.random_models import random_generator

    path = str(tmp_path_factory.mktemp("small_generator") / "g.pdparams")
    paddle.save(random_generator(64, 64, 2, channels=SMALL_CHANNELS).state_dict(), path)
    return path


SMALL_FLAGS = ["--size", "64", "--style_dim", "64", "--n_mlp", "2", "--channels", "4:32,8:32,16:16,32:16,64:8"]


def two_face_photo():
    """Two fixture portraits side by side on grey (the left one larger): RGB PIL 720x400."""
    from PIL import Image

    from ppgan.faceutils import load_rgb

    left = load_rgb(os.path.join(FIXTURES, "ffhq_e4e_0.jpg")).resize((400, 400), Image.Resampling.LANCZOS)
    right = load_rgb(os.path.join(FIXTURES, "ffhq_e4e_1.jpg")).resize((320, 320), Image.Resampling.LANCZOS)
    group = Image.new("RGB", (720, 400), (120, 120, 120))
    group.paste(left, (0, 0))
    group.paste(right, (400, 40))
    return group


# A pSp with a 32 px decoder (W+ [8, 512]); the encoder is the full IR-SE-50, as released.
SMALL_PSP_OPTS = dict(encoder_type="GradualStyleEncoder", input_nc=3, start_from_latent_avg=True, learn_in_w=False,
                      output_size=32, style_dim=512, n_mlp=2, channel_multiplier=2,
                      channels={4: 32, 8: 32, 16: 32, 32: 32})


@pytest.fixture(scope="session")
def random_clip_file(tmp_path_factory):
    """A random ViT-B/32 weight file (about 605 MB, 30 s to make), shared by the test session."""
    from ppgan.styleclip.clip import save_random_clip_weights

    path = str(tmp_path_factory.mktemp("random_clip") / "ViT-B-32.pdparams")
    save_random_clip_weights(path, seed=0)
    return path


@pytest.fixture(scope="session")
def random_psp_file(tmp_path_factory):
    """A random pSp file (state dict + ``opts`` = SMALL_PSP_OPTS) whose BatchNorm scales keep the
    encoder's activations near unit size; shared by the test session."""
    from ppgan.styleclip.random_models import random_psp

    model = random_psp(dict(SMALL_PSP_OPTS, size=SMALL_PSP_OPTS["output_size"]))
    path = str(tmp_path_factory.mktemp("random_psp") / "psp.pdparams")
    paddle.save(dict(model.state_dict(), opts=SMALL_PSP_OPTS), path)
    return path


@pytest.fixture(scope="session")
def config_f_32px_files(tmp_path_factory):
    """Folder with ``generator.pdparams`` (random 32 px generator of config-f widths: W+ [8, 512], as the small
    pSp's) and ``fs3.pdparams`` (random unit directions, one per style channel); shared by the test session."""
    from ppgan.styleclip.random_models import random_directions, random_generator

    root = tmp_path_factory.mktemp("config_f_32px")
    generator = random_generator(32, 512, 2, channel_multiplier=2)
    paddle.save(generator.state_dict(), str(root / "generator.pdparams"))
    paddle.save(paddle.to_tensor(random_directions(generator)), str(root / "fs3.pdparams"))
    return root


def listing(directory):
    """Every file below ``directory`` (relative paths, sorted), empty when it does not exist."""
    return sorted(os.path.relpath(os.path.join(root, name), directory)
                  for root, _, names in os.walk(directory) for name in names)


TOOL_SCRIPTS = {"styleganv2": "applications/tools/styleganv2.py", "getf": "styleclip_getf.py",
                "face_align": "applications/tools/face_align.py", "psp": "applications/tools/pixel2style2pixel.py",
                "fitting": "applications/tools/styleganv2fitting.py", "export": "tools/export_model.py",
                "convert": "tools/convert_weights.py", "e4e": "applications/tools/encoder4editing.py"}


def load_tool(relative):
    """The ``main`` of a script of the repository (e.g. ``"applications/tools/face_align.py"``), loaded as a
    module: what the script runs, without the seconds a new process takes to start Paddle."""
    path = os.path.join(REPO_ROOT, relative)
    spec = importlib.util.spec_from_file_location("tool_" + os.path.basename(relative)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def tool_main(name):
    """``main(argv)`` of a tool: a key of ``TOOL_SCRIPTS`` (the script's own), or ``edit``, ``extract`` or ``app``
    (the command of ``ppgan.cli``)."""
    import importlib

    if name in TOOL_SCRIPTS:
        return load_tool(TOOL_SCRIPTS[name])
    return importlib.import_module(f"ppgan.cli.{name}").main


class Payload:
    """An object whose pickle runs ``kind`` (os.system, builtins.eval, builtins.exec or subprocess.Popen)
    to create ``marker``: what a crafted weight or data file does to an unsafe loader."""

    RECORDED = {"os.system": f"{os.name}.system", "builtins.eval": "builtins.eval",
                "builtins.exec": "builtins.exec", "subprocess.Popen": "subprocess.Popen"}

    def __init__(self, kind, marker):
        self.kind, self.marker = kind, str(marker)

    def __reduce__(self):
        import subprocess

        touch = f"open({self.marker!r}, 'w').close()"
        return {"os.system": (os.system, (f"touch '{self.marker}'",)), "builtins.eval": (eval, (touch,)),
                "builtins.exec": (exec, (touch,)),
                "subprocess.Popen": (subprocess.Popen, (["touch", self.marker],))}[self.kind]


def malicious_files(folder, marker):
    """{(kind, container): path} of crafted files: each payload kind in a plain pickle (``.pdparams``, a
    state dict at protocol 2 and 4), inside a PyTorch zip (``.pt``) and as an object ``.npy``."""
    import pickle
    import zipfile

    files = {}
    for kind in Payload.RECORDED:
        stem = os.path.join(str(folder), kind.replace(".", "_"))
        for protocol in (2, 4):
            files[(kind, f"pickle{protocol}")] = path = f"{stem}_p{protocol}.pdparams"
            with open(path, "wb") as f:
                pickle.dump({"weight": np.zeros(2, np.float32), "opts": Payload(kind, marker)}, f, protocol=protocol)
        files[(kind, "torch zip")] = path = f"{stem}.pt"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", pickle.dumps({"g_ema": Payload(kind, marker)}, protocol=2))
            archive.writestr("archive/version", "3\n")
        files[(kind, "npy")] = path = f"{stem}.npy"
        np.save(path, np.array([Payload(kind, marker)], dtype=object), allow_pickle=True)
    return files


@contextlib.contextmanager
def raises_user_error(pattern):
    """Expect a UserError whose message, inputs named as flags (what the commands print), matches ``pattern``."""
    with pytest.raises(UserError) as info:
        yield info
    assert re.search(pattern, info.value.as_flags()), info.value.as_flags()

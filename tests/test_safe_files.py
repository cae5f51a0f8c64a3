"""No file a user passes runs code: every pickle goes through ``ppgan.utils.safe_pickle``'s whitelist.

Two halves: crafted files (``os.system``, ``builtins.eval``, ``builtins.exec`` and ``subprocess.Popen``
through ``__reduce__``, in plain pickles, PyTorch zips and object ``.npy`` files) given to every flag
that reads a file are refused in one line naming the file, and their marker file never appears; and
every real file still loads exactly as ``paddle.load`` (the independent reference) reads it.
"""
import os
import pickle
import pickletools
import re
import socket
import subprocess
import sys
import zipfile

import numpy as np
import paddle
import pytest

from conftest import FIXTURES, REPO_ROOT, Payload, malicious_files, tool_main

from ppgan.metrics.lpips import LPIPS
from ppgan.models.formats.torch_files import read_torch_checkpoint
from ppgan.styleclip.stats import write_s_codes, write_stats
from ppgan.utils.checkpoint import load_pdparams
from ppgan.utils.checks import load_npy
from ppgan.cli.common import run_cli
from ppgan.utils.errors import UserError

PHOTO = os.path.join(FIXTURES, "face_psp_input.jpg")
RELEASED_STATS = os.path.join(FIXTURES, "stylegan2-ffhq-config-f-styleclip-stats.pdparams")
KINDS = tuple(Payload.RECORDED)


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """(folder, marker path, {(kind, container): crafted file})."""
    root = tmp_path_factory.mktemp("crafted")
    marker = root / "PWNED"
    return root, marker, malicious_files(root, marker)


def expected_refusal(path, kind, container, reads_zips=False):
    """The fragment of the one error line a crafted file must get (``reads_zips``: a reader of PyTorch zips)."""
    if container == "npy":
        return f"{path} holds pickled Python objects, which are never loaded"
    if container == "torch zip" and not reads_zips:
        return f"{path} is a zip archive"
    if container == "torch zip":
        with zipfile.ZipFile(path) as archive:
            recorded = recorded_global(archive.read("archive/data.pkl"), kind)
    else:
        with open(path, "rb") as f:
            recorded = recorded_global(f.read(), kind)
    return f"{path} asks for {recorded}, which no weight or data file contains; it was not loaded"


def recorded_global(data, kind):
    """The payload's global as the pickle ``data`` records it (protocol 2 writes Python 2 names:
    __builtin__.eval, commands.Popen), read with pickletools."""
    strings, names = [], []
    for opcode, argument, _ in pickletools.genops(data):
        if "UNICODE" in opcode.name or "STRING" in opcode.name:
            strings.append(argument)
        elif opcode.name == "GLOBAL":
            names.append(argument.replace(" ", "."))
        elif opcode.name == "STACK_GLOBAL":
            names.append(".".join(strings[-2:]))
    return next(name for name in names if name.endswith("." + kind.split(".")[1]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("container", ["pickle2", "pickle4", "torch zip", "npy"])
def test_loaders_refuse_crafted_files_unread(crafted, kind, container):
    _, marker, files = crafted
    path = files[(kind, container)]
    load = load_npy if container == "npy" else load_pdparams
    with pytest.raises(UserError) as info:
        load(path, "--flag")
    message = str(info.value)
    assert "\n" not in message and expected_refusal(path, kind, container) in message
    if container == "torch zip":  # the rosinality converter reads the zip's pickle: refused there too
        with pytest.raises(UserError, match=re.escape(expected_refusal(path, kind, container, reads_zips=True))):
            read_torch_checkpoint(path, "PyTorch checkpoints")
    assert not marker.exists()


def test_the_payloads_do_run_under_plain_pickle(crafted, tmp_path):
    """The crafted files are real: Python's own pickle runs them (in a child process)."""
    _, _, files = crafted
    for kind in KINDS:
        marker = tmp_path / f"{kind}.ran"
        path = tmp_path / f"{kind}.pkl"
        path.write_bytes(pickle.dumps(Payload(kind, marker)))
        subprocess.run([sys.executable, "-c", f"import pickle, time; pickle.load(open({str(path)!r}, 'rb')); "
                        "time.sleep(0.5)"], check=True, capture_output=True)
        assert marker.exists(), kind


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory, config_f_32px_files, random_clip_file, random_psp_file):
    """Every file a tool reads, valid and matching one random 32 px config-f generator."""
    from ppgan.models.generators import StyleGANv2Generator

    root = tmp_path_factory.mktemp("valid")
    generator = StyleGANv2Generator(32, 512, 2, channel_multiplier=2)
    widths = generator.channels_lst
    rng = np.random.default_rng(0)
    write_stats(str(root / "stats.pdparams"), [rng.standard_normal(w).astype(np.float32) for w in widths],
               [rng.uniform(0.5, 2, w).astype(np.float32) for w in widths])
    write_s_codes(str(root / "S.pdparams"), [rng.standard_normal((4, w)).astype(np.float32) for w in widths])
    np.save(root / "w.npy", rng.standard_normal((generator.n_latent, 512)).astype(np.float32))
    lpips = LPIPS()
    paddle.save({f"features.{key}": value for key, value in lpips.features.state_dict().items()},
                str(root / "vgg.pdparams"))
    paddle.save(lpips.lins.state_dict(), str(root / "lins.pdparams"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    return dict(vgg=str(root / "vgg.pdparams"), lins=str(root / "lins.pdparams"), port=port,
                g=str(config_f_32px_files / "generator.pdparams"), fs3=str(config_f_32px_files / "fs3.pdparams"),
                stats=str(root / "stats.pdparams"), S=str(root / "S.pdparams"), w=str(root / "w.npy"),
                clip=random_clip_file, psp=random_psp_file, out=str(root / "out"))


def _flag_cases():
    """(tool, argument template, the flag given the crafted file); {g}, {fs3}, ... are ``valid_files``."""
    model = ["--weight_path", "{g}"]
    edit = [*model, "--direction_path", "{fs3}", "--clip_weight_path", "{clip}", "--stat_path", "{stats}",
            "--scale_by_std", "--target", "smiling face", "--output_path", "{out}/edit"]
    photo_edit = [*edit, "--input_image", PHOTO, "--psp_weight_path", "{psp}", "--refine_steps", "1",
                  "--vgg_weight_path", "{vgg}", "--lins_weight_path", "{lins}"]
    extract = [*model, "--S_path", "{S}", "--stat_path", "{stats}", "--clip_weight_path", "{clip}",
               "--num_images", "1", "--output", "{out}/fs3.pdparams"]
    app = [*model, "--direction_path", "{fs3}", "--clip_weight_path", "{clip}", "--stat_path", "{stats}",
           "--scale_by_std", "--port", "{port}"]
    fitting = [*model, "--input_image", PHOTO, "--vgg_weight_path", "{vgg}", "--lins_weight_path", "{lins}",
               "--pre_latent", "{w}", "--output_path", "{out}/fit"]
    cases = [("styleganv2", [*model, "--output_path", "{out}/sample"], "--weight_path"),
             ("getf", [*model, "--output_dir", "{out}/stats", "--num_samples", "100", "--num_saved", "10"],
              "--weight_path"),
             ("export", [*model, "--output_dir", "{out}/export"], "--weight_path"),
             ("psp", ["--weight_path", "{psp}", "--input_image", PHOTO, "--output_path", "{out}/psp"], "--weight_path"),
             ("convert", ["--input", "{g}", "--output", "{out}/converted.pdparams"], "--input")]
    cases += [("fitting", fitting, flag) for flag in ("--weight_path", "--vgg_weight_path", "--lins_weight_path",
                                                      "--pre_latent")]
    cases += [("extract", extract, flag) for flag in ("--weight_path", "--S_path", "--stat_path",
                                                      "--clip_weight_path")]
    cases += [("edit", edit, flag) for flag in ("--weight_path", "--direction_path", "--stat_path",
                                                "--clip_weight_path")]
    cases += [("edit", [*edit, "--latent", "{w}"], "--latent")]
    cases += [("edit", photo_edit, flag) for flag in ("--psp_weight_path", "--vgg_weight_path", "--lins_weight_path")]
    cases += [("app", app, flag) for flag in ("--weight_path", "--direction_path", "--stat_path",
                                              "--clip_weight_path")]
    cases += [("app", [*app, "--latent", "{w}"], "--latent"), ("app", [*app, "--psp_weight_path", "{psp}"],
                                                               "--psp_weight_path")]
    return cases


FLAG_CASES = _flag_cases()
NPY_FLAGS = ("--latent", "--pre_latent")
MODEL_FLAGS = ("--weight_path", "--psp_weight_path")


def _with(args, flag, value):
    """``args`` with ``flag``'s value replaced by (or, absent, ``flag`` added with) ``value``."""
    if flag in args:
        index = args.index(flag) + 1
        return args[:index] + [value] + args[index + 1:]
    return args + [flag, value]


@pytest.mark.parametrize("tool, args, flag", FLAG_CASES, ids=[f"{tool}{flag}" for tool, _, flag in FLAG_CASES])
def test_every_flag_that_reads_a_file_refuses_crafted_files(crafted, valid_files, capsys, monkeypatch,
                                                            tool, args, flag):
    from ppgan.page import layout

    monkeypatch.setattr(layout, "launch_app", lambda *a, **k: pytest.fail("the page was served"))
    monkeypatch.setenv("PPGAN_MODEL_BASE_URL", "file:///nonexistent")  # no network, whatever the flags miss
    _, marker, files = crafted
    main = tool_main(tool)
    containers = (("npy",) if flag in NPY_FLAGS else ("torch zip",) if tool == "convert"
                  else ("pickle4", "pickle2", "torch zip", "pickle4"))
    for kind, container in zip(KINDS, containers * 4):
        path = files[(kind, container)]
        argv = _with([arg.format(**valid_files) for arg in args], flag, path)
        with pytest.raises(SystemExit) as exit_info:
            run_cli(main, argv)
        out, err = capsys.readouterr()
        assert exit_info.value.code == 2, err
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0] == err.strip().splitlines()[-1], err
        reads_zips = tool == "convert" or flag in MODEL_FLAGS  # generators and encoders may be PyTorch .pt files
        assert expected_refusal(path, kind, container, reads_zips) in errors[0], errors[0]
        assert "Traceback" not in out + err
        assert not marker.exists()
    assert not os.path.exists(valid_files["out"])  # nothing written


def test_scripts_refuse_a_crafted_generator_in_one_line(crafted, tmp_path):
    """The real scripts, as a user runs them: exit 2, one line, no traceback, no marker."""
    _, marker, files = crafted
    path = files[("os.system", "pickle4")]
    result = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "applications/tools/styleganv2.py"),
                             "--weight_path", path, "--output_path", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (f"error: {path} asks for {os.name}.system, which no weight "
                                                      "or data file contains; it was not loaded")
    assert "Traceback" not in result.stderr and not marker.exists() and not (tmp_path / "out").exists()


def test_the_paddlegan_api_refuses_crafted_files(crafted, valid_files):
    from ppgan.apps import Pixel2Style2PixelPredictor, StyleGANv2ClipPredictor, StyleGANv2Predictor

    _, marker, files = crafted
    path = files[("builtins.eval", "pickle4")]
    for make in (lambda: StyleGANv2Predictor(weight_path=path),
                 lambda: Pixel2Style2PixelPredictor(weight_path=path).model,  # loaded on first use
                 lambda: StyleGANv2ClipPredictor(weight_path=valid_files["g"], direction_path=path,
                                                 clip_weight_path=valid_files["clip"])):
        with pytest.raises(UserError, match=re.escape(f"{path} asks for builtins.eval")):
            make()
    assert not marker.exists()


def _assert_same(loaded, reference):
    """``loaded`` (numpy) equals ``paddle.load(..., return_numpy=True)``'s ``reference``: types, dtypes, bits."""
    if isinstance(reference, np.ndarray):
        assert isinstance(loaded, np.ndarray) and loaded.dtype == reference.dtype
        assert loaded.shape == reference.shape and loaded.tobytes() == reference.tobytes()
    elif isinstance(reference, dict):
        assert type(loaded) is type(reference) and list(loaded) == list(reference)
        for key in reference:
            _assert_same(loaded[key], reference[key])
    elif isinstance(reference, (list, tuple)):
        assert type(loaded) is type(reference) and len(loaded) == len(reference)
        for item, expected in zip(loaded, reference):
            _assert_same(item, expected)
    else:
        assert type(loaded) is type(reference) and loaded == reference


def test_the_released_statistics_file_loads_bit_exactly():
    """A Paddle 2.x pickle recorded under numpy 1's names (numpy.core.multiarray)."""
    with open(RELEASED_STATS, "rb") as f:
        assert b"numpy.core.multiarray" in f.read()
    _assert_same(load_pdparams(RELEASED_STATS), paddle.load(RELEASED_STATS, return_numpy=True))


def _saved_objects():
    paddle.seed(0)
    layer = paddle.nn.Linear(3, 4)
    return {
        "state dict": layer.state_dict(),
        "bare tensor": paddle.randn([5, 512]),
        "tensor list": [paddle.randn([4, 3]), paddle.randn([4, 5]).astype("float16")],
        "nested": {"mean": [paddle.randn([3]), paddle.randn([5])], "std": [paddle.rand([3]), paddle.rand([5])]},
        "state dict + opts": dict(layer.state_dict(), opts={"encoder_type": "GradualStyleEncoder", "n_styles": 18,
                                                            "learn_in_w": False, "checkpoint_path": None,
                                                            "channels": {4: 512, 8: 512}, "lr": 1e-4}),
        "numpy values": {"array": np.arange(6, dtype=np.int64).reshape(2, 3), "scalar": np.float32(0.5),
                         "int": np.int64(7), "pairs": [("name", 3), {"x": (1.5, "y")}], "words": ["conv1", "ToRGB"]},
    }


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_files_paddle_saves_load_as_paddle_reads_them(tmp_path, protocol):
    for name, obj in _saved_objects().items():
        path = str(tmp_path / f"{name}.pdparams")
        paddle.save(obj, path, protocol=protocol)
        _assert_same(load_pdparams(path), paddle.load(path, return_numpy=True))


def test_official_styleclip_pickles_load(tmp_path):
    """StyleCLIP's S_mean_std and S files are plain pickles of numpy (protocols 2 to 5)."""
    rng = np.random.default_rng(0)
    s_codes = [rng.standard_normal((3, w)).astype(np.float32) for w in (4, 2)]
    for protocol in (2, 3, 4, 5):
        path = tmp_path / f"S_{protocol}"
        path.write_bytes(pickle.dumps([["conv1", "ToRGB"], s_codes], protocol=protocol))
        _assert_same(load_pdparams(str(path)), [["conv1", "ToRGB"], s_codes])


def test_sliced_big_arrays_are_joined(tmp_path):
    """paddle.save at protocol 2/3 stores arrays over 1 GB as slices plus UnpackBigParamInfor@@ (laid out by hand
    here at a small size); both loaders join them."""
    weight = np.arange(24, dtype=np.float32).reshape(4, 6)
    flat = weight.ravel()
    saved = {"bias": np.ones(3, np.float32), "weight@@.0": flat[:10], "weight@@.1": flat[10:],
             "UnpackBigParamInfor@@": {"weight": {"OriginShape": (4, 6), "slices": ["weight@@.0", "weight@@.1"]}},
             "StructuredToParameterName@@": {"bias": "linear_0.b_0", "weight": "linear_0.w_0"}}
    path = tmp_path / "sliced.pdparams"
    path.write_bytes(pickle.dumps(saved, protocol=2))
    loaded = load_pdparams(str(path))
    _assert_same(loaded, paddle.load(str(path), return_numpy=True))
    np.testing.assert_array_equal(loaded["weight"], weight)


def test_damaged_and_foreign_files_are_one_line(tmp_path, small_generator_weights):
    with open(small_generator_weights, "rb") as f:
        data = f.read()
    cases = {"truncated.pdparams": data[:len(data) // 2], "text.pdparams": b"not a pickle\n", "empty.pdparams": b""}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(UserError, match=re.escape(f"{path} is not a readable .pdparams file")) as info:
            load_pdparams(str(path), "--weight_path")
        assert "--weight_path" in str(info.value) and "\n" not in str(info.value)


def test_no_unsafe_load_is_left_in_the_code():
    """No code a user runs calls paddle.load, pickle.load, torch.load or np.load without allow_pickle=False
    (benchmarks read only files they wrote themselves)."""
    offenders = []
    roots = [os.path.join(REPO_ROOT, name) for name in ("ppgan", "applications", "tools")]
    files = [os.path.join(REPO_ROOT, "styleclip_getf.py")]
    files += [os.path.join(folder, name) for root in roots for folder, _, names in os.walk(root)
              for name in names if name.endswith(".py")]
    unsafe = re.compile(r"paddle\.load\(|pickle\.loads?\(|\bUnpickler\(|torch\.load\(|np\.load\((?![^)]*allow_pickle=False)")
    for path in files:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if unsafe.search(line):
                    offenders.append(f"{os.path.relpath(path, REPO_ROOT)}:{number}: {line.strip()}")
    assert offenders == []

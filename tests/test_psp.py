"""pSp (pixel2style2pixel): released key list, encoder shapes, latent_avg, weight files, the CLI."""
import importlib.util
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import raises_user_error
from PIL import Image

import paddle
from ppgan.apps.pixel2style2pixel_predictor import Pixel2Style2PixelPredictor
from ppgan.models.loading import load_psp
from ppgan.models.generators import Pixel2Style2Pixel
from ppgan.cli.common import run_cli
from ppgan.utils.errors import UserError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
PORTRAIT = os.path.join(FIXTURES, "face_psp_input.jpg")
CHURCH = os.path.join(FIXTURES, "no_face_church.jpg")
CLI = os.path.join(REPO, "applications", "tools", "pixel2style2pixel.py")

# A 32 px decoder: W+ has 8 rows (3 coarse, 4 middle, 1 fine), so every feature level is used.
SMALL_OPTS = dict(encoder_type="GradualStyleEncoder", input_nc=3, start_from_latent_avg=True, learn_in_w=False,
                  size=32, style_dim=512, n_mlp=2, channel_multiplier=2, channels={4: 32, 8: 32, 16: 32, 32: 32})
SMALL_N_LATENT = 8


def read_key_list(path):
    rows = []
    with open(path) as f:
        for line in f:
            name, shape = line.rstrip("\n").split("\t")
            rows.append((name, [int(d) for d in shape.strip("[]").split(",")]))
    return rows


def random_faces():
    """[1, 3, 256, 256] in [-1, 1]."""
    return paddle.to_tensor(np.random.RandomState(0).uniform(-1, 1, (1, 3, 256, 256)).astype("float32"))


@pytest.fixture(scope="module")
def small_model():
    """A random small pSp whose BatchNorm scales keep activations near unit size.

    With plain random init, 24 residual IR-SE units grow activations to ~1e3, where
    float rounding differences between two runs become visible in W+.
    """
    paddle.seed(0)
    model = Pixel2Style2Pixel(SMALL_OPTS)
    for layer in model.encoder.sublayers():
        if isinstance(layer, paddle.nn.BatchNorm2D):
            layer.weight.set_value(paddle.full(layer.weight.shape, 0.3))
    model.latent_avg.set_value(paddle.randn(model.latent_avg.shape))
    model.eval()
    return model


@pytest.fixture(scope="module")
def faces():
    return random_faces()


@pytest.fixture(scope="module")
def small_output(small_model, faces):
    """(image, W+) of the small model for ``faces``."""
    with paddle.no_grad():
        return small_model(faces)


@pytest.fixture(scope="module")
def small_file(small_model, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("psp") / "psp-small.pdparams")
    paddle.save(dict(small_model.state_dict(), opts=SMALL_OPTS), path)
    return path


def test_state_dict_equals_the_released_ffhq_inversion_keys():
    with paddle.LazyGuard():
        model = Pixel2Style2Pixel({})
    got = [(name, list(value.shape)) for name, value in model.state_dict().items()]
    assert got == read_key_list(os.path.join(FIXTURES, "psp_ffhq_state_dict_keys.tsv"))
    assert model.n_latent == 18 and len(model.encoder.styles) == 18


def test_encoder_predicts_one_style_per_decoder_row(small_model, small_output):
    convs = [len(block.convs) // 2 for block in small_model.encoder.styles]
    assert convs == [4, 4, 4, 5, 5, 5, 5, 6]  # 16, 32 and 64 px feature maps down to 1 px
    image, latents = small_output
    assert latents.shape == [1, SMALL_N_LATENT, 512] and image.shape == [1, 3, 32, 32]
    assert np.isfinite(image.numpy()).all()
    with pytest.raises(ValueError, match="256x256"):
        small_model.encode(paddle.zeros([1, 3, 128, 128]))


def test_latent_avg_is_added_to_the_encoder_output(small_model, faces, small_output):
    with paddle.LazyGuard():  # opts may also be an object with attributes
        plain = Pixel2Style2Pixel(SimpleNamespace(**dict(SMALL_OPTS, start_from_latent_avg=False)))
    assert "latent_avg" not in plain.state_dict() and not plain.opts.start_from_latent_avg
    with paddle.no_grad():
        offsets = small_model.encoder(faces).numpy()  # what encode gives without start_from_latent_avg
    with_avg = small_output[1].numpy()
    np.testing.assert_allclose(with_avg, offsets + small_model.latent_avg.numpy(), rtol=1e-6, atol=1e-4)
    assert np.abs(with_avg - offsets).max() > 0.5


def test_weight_file_round_trip_gives_the_same_latents(small_file, faces, small_output):
    loaded = load_psp(weight_path=small_file)  # size and channels come from the file's opts
    assert loaded.n_latent == SMALL_N_LATENT and not loaded.training
    with paddle.no_grad():
        np.testing.assert_array_equal(loaded.encode(faces).numpy(), small_output[1].numpy())


def test_decoder_flags_must_agree_with_the_file(small_file):
    with raises_user_error("--size says size 64, but .* holds a 32 px generator") as info:
        load_psp(weight_path=small_file, size=64)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("change, message", [
    (dict(latent_avg=paddle.zeros([1, 18, 512])), "latent_avg .1, 18, 512. .expected .1, 8, 512.."),
    (dict(opts=dict(SMALL_OPTS, encoder_type="BackboneEncoderUsingLastLayerIntoW")), "encoder_type"),
    ({"decoder.input.input": None}, "not a StyleGAN2 generator .*decoder.input.input"),
    (paddle.zeros([3]), "not a pSp state dict"),
])
def test_bad_weight_files_fail_with_one_line(small_model, tmp_path, change, message):
    path = str(tmp_path / "bad.pdparams")
    if isinstance(change, dict):
        content = {**small_model.state_dict(), "opts": SMALL_OPTS, **change}
        content = {key: value for key, value in content.items() if value is not None}
    else:
        content = change
    paddle.save(content, path)
    with raises_user_error(message) as info:
        load_psp(weight_path=path)
    assert "\n" not in str(info.value)


def test_predictor_errors_come_before_any_output(small_file, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UserError, match="landmark model"):
        Pixel2Style2PixelPredictor(str(out), weight_path=small_file, landmark_model=str(tmp_path / "absent.dat"))
    predictor = Pixel2Style2PixelPredictor(str(out), weight_path=small_file)
    text_file = tmp_path / "notes.jpg"
    text_file.write_text("not an image")
    with pytest.raises(UserError, match="cannot read"):
        predictor.run(str(text_file))
    with pytest.raises(UserError, match="no face found"):
        predictor.run(CHURCH)
    assert not out.exists() or os.listdir(out) == []


def run_tool(*args, home):
    """Run the CLI from the repo root with cache ``home``; eager rendering, as compiling
    the synthesis program (tested with fast_synthesis) would double the run time."""
    env = dict(os.environ, PPGAN_HOME=home, PPGAN_SYNTHESIS="eager")
    return subprocess.run([sys.executable, CLI, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_cli_inverts_a_photo(small_file, small_model, tmp_path):
    out = tmp_path / "out"
    result = run_tool("--input_image", os.path.relpath(PORTRAIT, REPO), "--output_path", str(out),
                      "--weight_path", small_file, "--cpu", home=str(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == ["dst.npy", "dst.png", "src.png"]
    src = Image.open(out / "src.png")
    assert src.size == (256, 256) and Image.open(out / "dst.png").size == (32, 32)
    latent = np.load(out / "dst.npy")
    assert latent.shape == (SMALL_N_LATENT, 512) and latent.dtype == np.float32
    pixels = np.asarray(src, dtype=np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0
    with paddle.no_grad():
        expected = small_model.encode(paddle.to_tensor(pixels))[0].numpy()
    np.testing.assert_allclose(latent, expected, rtol=1e-5, atol=1e-3)


def test_cli_without_a_face_exits_with_one_line_and_no_outputs(small_file, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("pixel2style2pixel_tool", CLI)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        run_cli(tool.main, ["--input_image", CHURCH, "--output_path", str(out), "--weight_path", small_file])
    assert info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no face found")
    assert not out.exists() or os.listdir(out) == []


@pytest.mark.slow
def test_ffhq_inversion_size_forward():
    paddle.seed(0)
    model = Pixel2Style2Pixel({})
    model.eval()
    with paddle.no_grad():
        image, latents = model(random_faces())
    assert image.shape == [1, 3, 1024, 1024] and latents.shape == [1, 18, 512]


def test_cli_shows_no_progress_bar_before_its_weights_are_found(tmp_path, capsys, monkeypatch):
    """Weights that cannot be had stop the tool with one line, and no 'pSp 0% encoding' bar is drawn before it."""
    spec = importlib.util.spec_from_file_location("pixel2style2pixel_tool", CLI)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setenv("PPGAN_MODEL_BASE_URL", (tmp_path / "no_mirror").as_uri())
    monkeypatch.setattr("ppgan.utils.download.BACKOFF", 0.0)
    with pytest.raises(SystemExit) as info:
        run_cli(tool.main, ["--input_image", PORTRAIT, "--output_path", str(tmp_path / "out")])
    assert info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: could not download"), lines
    assert not (tmp_path / "out").exists()

"""Fitting (optimisation-based inversion) and LPIPS, on a tiny random generator and random VGG weights."""
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from conftest import FIXTURES, raises_user_error
from PIL import Image

from ppgan.inversion.fitting import LatentFitter, check_fitting_options, learning_rate
from ppgan.metrics.lpips import LPIPS, TAPS, load_lpips
from ppgan.models.generators import StyleGANv2Generator
from ppgan.utils.errors import UserError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CLI = os.path.join(REPO, "applications", "tools", "styleganv2fitting.py")
GENERATOR = dict(size=32, style_dim=64, n_mlp=2, channels={4: 32, 8: 32, 16: 16, 32: 16})
GENERATOR_FLAGS = ["--size", "32", "--style_dim", "64", "--n_mlp", "2", "--channels", "4:32,8:32,16:16,32:16", "--cpu"]


@pytest.fixture(scope="module")
def problem():
    """(generator, true W+ [1, 8, 64] (a face at truncation 0.7), its render [1, 3, 32, 32], mean W+)."""
    paddle.seed(0)
    generator = StyleGANv2Generator(**GENERATOR)
    generator.eval()
    rng = np.random.default_rng(0)
    with paddle.no_grad():
        mean_w = generator.mean_latent(4096, seed=0).numpy()
        w = generator.style(paddle.to_tensor(rng.standard_normal((1, 64)).astype("float32"))).numpy()
        true = np.tile((mean_w + 0.7 * (w - mean_w))[:, None], (1, generator.n_latent, 1))
        target = generator.synthesis_from_styles(generator.style_affine(paddle.to_tensor(true))).numpy()
    return generator, true, target, np.tile(mean_w[:, None], (1, generator.n_latent, 1))


def psnr(generator, latent, target):
    """PSNR in dB of the render of ``latent`` against ``target`` (peak-to-peak 2, the [-1, 1] range)."""
    with paddle.no_grad():
        image = generator.synthesis_from_styles(generator.style_affine(paddle.to_tensor(latent))).numpy()
    return 10 * np.log10(4.0 / max(np.mean((image - target) ** 2), 1e-12))


def random_lpips(seed=0):
    """LPIPS with random VGG weights and random positive heads (as the trained heads are)."""
    paddle.seed(seed)
    lpips = LPIPS()
    for lin in lpips.lins:
        weight = lin.model[1].weight
        weight.set_value(paddle.uniform(weight.shape, min=0.0, max=1.0))
    return lpips


def test_learning_rate_decays_exponentially_from_start_to_final():
    rates = [learning_rate(step, 5, 0.1, 0.025) for step in range(5)]
    np.testing.assert_allclose(rates, 0.1 * 0.25 ** (np.arange(5) / 4), rtol=1e-12)
    assert learning_rate(0, 1, 0.1, 0.025) == 0.1


def test_bad_options_are_user_errors():
    assert check_fitting_options(18, [5, 0, 5], 100, 0.1, 0.025, 1.0) == [0, 5]
    for args, message in [(([18], 1, 0.1, 0.1, 1.0), "--latent_level"), (([0], -1, 0.1, 0.1, 1.0), "--step"),
                          (([0], 1, 0.0, 0.1, 1.0), "learning rates"), (([0], 1, 0.1, 0.1, -1.0), "--mse_weight")]:
        with raises_user_error(message):
            check_fitting_options(18, *args)


def test_fitting_from_the_mean_moves_towards_the_target(problem):
    generator, true, target, mean = problem
    start = psnr(generator, mean, target)
    fitted = LatentFitter(generator).fit(target, mean, range(generator.n_latent), 100, progress=False)
    assert psnr(generator, fitted, target) >= start + 8.0
    # rows outside latent_level do not move
    partial = LatentFitter(generator).fit(target, mean, [0, 1], 5, progress=False)
    np.testing.assert_array_equal(partial[:, 2:], mean[:, 2:])
    assert np.abs(partial[:, :2] - mean[:, :2]).max() > 0


@pytest.mark.slow
def test_fitting_converges_over_300_steps(problem):
    generator, true, target, mean = problem
    start = psnr(generator, mean, target)
    fitted = LatentFitter(generator).fit(target, mean, range(generator.n_latent), 300, progress=False)
    end = psnr(generator, fitted, target)
    assert end >= start + 10.0 and end > 25.0


def test_fitting_from_the_true_latent_stays_there(problem):
    generator, true, target, mean = problem
    fitted = LatentFitter(generator, random_lpips()).fit(target, true, range(generator.n_latent), 20, progress=False)
    assert psnr(generator, fitted, target) > 40.0
    np.testing.assert_allclose(fitted, true, atol=2e-2)


def test_lpips_matches_its_formula_on_random_weights():
    lpips = random_lpips()
    rng = np.random.default_rng(0)
    x0, x1 = (paddle.to_tensor(rng.uniform(-1, 1, (2, 3, 32, 32)).astype("float32")) for _ in range(2))
    # the formula in numpy, on the VGG activations at the taps
    shift = np.array([-0.030, -0.088, -0.188], np.float32).reshape(1, 3, 1, 1)
    scale = np.array([0.458, 0.448, 0.450], np.float32).reshape(1, 3, 1, 1)
    h0, h1 = paddle.to_tensor((x0.numpy() - shift) / scale), paddle.to_tensor((x1.numpy() - shift) / scale)
    expected = np.zeros(2)
    with paddle.no_grad():
        for index, layer in enumerate(lpips.features[:TAPS[-1] + 1]):
            h0, h1 = layer(h0), layer(h1)
            if index in TAPS:
                f0, f1 = h0.numpy().astype(np.float64), h1.numpy().astype(np.float64)
                f0 /= np.sqrt((f0 ** 2).sum(axis=1, keepdims=True)) + 1e-10
                f1 /= np.sqrt((f1 ** 2).sum(axis=1, keepdims=True)) + 1e-10
                head = lpips.lins[TAPS.index(index)].model[1].weight.numpy()[0, :, 0, 0].astype(np.float64)
                expected += np.einsum("bchw,c->bhw", (f0 - f1) ** 2, head).mean(axis=(1, 2))
        got = lpips(x0, x1).numpy()
        assert np.abs(lpips(x0, x0).numpy()).max() == 0.0
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_lpips_loss_decreases_while_fitting(problem):
    generator, true, target, mean = problem
    fitter = LatentFitter(generator, random_lpips())
    targets = paddle.to_tensor(target)

    def lpips_of(latent):
        with paddle.no_grad():
            image = generator.synthesis_from_styles(generator.style_affine(paddle.to_tensor(latent)))
            return float(fitter.lpips(image, targets).sum())

    fitted = fitter.fit(target, mean, range(generator.n_latent), 15, mse_weight=0.0, progress=False)
    assert lpips_of(fitted) < 0.8 * lpips_of(mean)


def save_lpips_files(lpips, directory):
    """PaddleGAN's two files of ``lpips``: torchvision-style VGG16 keys (with a classifier) and the heads."""
    vgg = {f"features.{key}": value for key, value in lpips.features.state_dict().items()}
    vgg["classifier.0.weight"] = paddle.zeros([4, 4])
    paths = (os.path.join(directory, "vgg16_official.pdparams"), os.path.join(directory, "lins_0.1_vgg.pdparams"))
    paddle.save(vgg, paths[0])
    paddle.save(lpips.lins.state_dict(), paths[1])
    return paths


def test_lpips_weight_files_round_trip_and_fall_back_to_mse(tmp_path, monkeypatch):
    lpips = random_lpips(1)
    vgg, lins = save_lpips_files(lpips, str(tmp_path))
    loaded, reason = load_lpips(vgg, lins)
    assert reason is None
    x0, x1 = paddle.uniform([1, 3, 32, 32], min=-1, max=1), paddle.uniform([1, 3, 32, 32], min=-1, max=1)
    with paddle.no_grad():
        np.testing.assert_allclose(loaded(x0, x1).numpy(), lpips(x0, x1).numpy(), rtol=1e-6)
    with pytest.raises(UserError, match="missing 1 keys"):
        paddle.save({k: v for k, v in lpips.lins.state_dict().items() if not k.startswith("4.")}, lins)
        load_lpips(vgg, lins)
    monkeypatch.setenv("PPGAN_MODEL_BASE_URL", (tmp_path / "no_mirror").as_uri())
    monkeypatch.setattr("ppgan.utils.download.BACKOFF", 0.0)
    missing, reason = load_lpips()
    assert missing is None and "vgg16_official.pdparams" in reason


def test_cli_writes_the_three_files(problem, tmp_path):
    generator, true, target, mean = problem
    weight_path = str(tmp_path / "generator.pdparams")
    paddle.save(generator.state_dict(), weight_path)
    vgg, lins = save_lpips_files(random_lpips(), str(tmp_path))
    image = ((target[0].transpose(1, 2, 0) + 1) * 127.5).clip(0, 255).round().astype(np.uint8)
    Image.fromarray(image).resize((64, 64), Image.Resampling.LANCZOS).save(tmp_path / "face.png")
    np.save(tmp_path / "pre.npy", true[0])
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, CLI, "--input_image", str(tmp_path / "face.png"), "--weight_path",
                           weight_path, *GENERATOR_FLAGS, "--step", "3", "--latent_level", "0", "1",
                           "--pre_latent", str(tmp_path / "pre.npy"), "--vgg_weight_path", vgg,
                           "--lins_weight_path", lins, "--output_path", str(out)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "lpips=" in proc.stderr and "mse=" in proc.stderr  # the progress bar shows the losses
    assert sorted(os.listdir(out)) == ["dst.fitting.npy", "dst.fitting.png", "src.fitting.png"]
    latent = np.load(out / "dst.fitting.npy")
    assert latent.shape == (generator.n_latent, 64) and latent.dtype == np.float32
    np.testing.assert_array_equal(latent[2:], true[0, 2:])
    assert Image.open(out / "src.fitting.png").size == (32, 32) and Image.open(out / "dst.fitting.png").size == (32, 32)
    from ppgan.apps.styleganv2fitting_predictor import StyleGANv2FittingPredictor

    predictor = StyleGANv2FittingPredictor(str(tmp_path / "x"), weight_path=weight_path, **GENERATOR,
                                           vgg_weight_path=vgg, lins_weight_path=lins)
    with raises_user_error(r"--latent_level \[8\] must name W\+ rows between 0 and 7"):
        predictor.run(str(tmp_path / "face.png"), latent_level=[8])
    assert not os.path.exists(tmp_path / "x")


def test_cli_can_start_from_an_encoders_inversion(config_f_32px_files, random_psp_file, tmp_path, monkeypatch):
    """--encoder psp: the starting W+ is the photo's inversion (0 steps leave it as it is)."""
    from conftest import tool_main

    from ppgan.apps.pixel2style2pixel_predictor import Pixel2Style2PixelPredictor

    monkeypatch.setenv("PPGAN_MODEL_BASE_URL", (tmp_path / "no_mirror").as_uri())  # LPIPS unavailable: MSE alone
    photo = os.path.join(FIXTURES, "face_psp_input.jpg")
    out = tmp_path / "out"
    tool_main("fitting")(["--input_image", photo, "--need_align", "--encoder", "psp", "--psp_weight_path",
                          random_psp_file, "--step", "0", "--weight_path",
                          str(config_f_32px_files / "generator.pdparams"), "--output_path", str(out)])
    expected = Pixel2Style2PixelPredictor(weight_path=random_psp_file).invert(photo)
    np.testing.assert_allclose(np.load(out / "dst.fitting.npy"), expected, atol=1e-5)
    with raises_user_error("either --pre_latent or --encoder"):
        tool_main("fitting")(["--input_image", photo, "--encoder", "e4e", "--pre_latent", str(out / "dst.fitting.npy"),
                              "--output_path", str(tmp_path / "other")])


@pytest.mark.parametrize("flags, message", [
    (["--step", "-5"], r"--step -5 is negative"),
    (["--start_lr", "0"], r"learning rates 0.0, 0.025 must be positive"),
    (["--mse_weight", "nan"], r"--mse_weight nan must be a number >= 0"),
    (["--latent_level", "-1"], r"--latent_level \[-1\] must name W\+ rows 0 or more"),
])
def test_cli_checks_its_values_before_any_file_is_fetched(flags, message, monkeypatch):
    """A bad value is refused before the generator or LPIPS is looked for: no download, no waiting on a network."""
    from conftest import tool_main

    from ppgan.utils import download

    def no_download(*args):
        raise AssertionError("a download was attempted before the values were checked")

    monkeypatch.setattr(download, "_download", no_download)
    photo = os.path.join(FIXTURES, "face_psp_input.jpg")
    with raises_user_error(message):
        tool_main("fitting")(["--input_image", photo, *flags])


def test_predictor_fetches_lpips_only_after_the_options_are_checked(problem, tmp_path, monkeypatch):
    """PaddleGAN's API: a bad ``run`` option fails before any LPIPS file is looked for."""
    from ppgan.apps.styleganv2fitting_predictor import StyleGANv2FittingPredictor
    from ppgan.inversion import fitting

    generator = problem[0]
    weight_path = str(tmp_path / "generator.pdparams")
    paddle.save(generator.state_dict(), weight_path)
    fetched = []
    monkeypatch.setattr(fitting, "load_lpips", lambda *paths: fetched.append(paths) or (None, "test"))
    predictor = StyleGANv2FittingPredictor(str(tmp_path / "out"), weight_path=weight_path, **GENERATOR)
    with raises_user_error(r"--step -1 is negative"):
        predictor.run(os.path.join(FIXTURES, "face_psp_input.jpg"), step=-1)
    assert fetched == []

"""The whole pipeline on 256 and 512 px generators: sampling, statistics, extraction, edit and the page's start-up.

Random narrow generators saved to files named after a model; every tool reads the
architecture from the file (no size flag) and names its outputs after the model.
Eager synthesis (``PPGAN_SYNTHESIS=eager``) keeps the tools' start-up short.
"""
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import paddle
from PIL import Image

from conftest import REPO_ROOT
from ppgan.models.generators import StyleGANv2Generator
from ppgan.styleclip.clip import save_random_clip_weights
from ppgan.styleclip.directions import load_directions, style_channel_count
from ppgan.styleclip.extract import save_directions
from ppgan.utils.errors import UserError

SAMPLE = os.path.join(REPO_ROOT, "applications", "tools", "styleganv2.py")
GETF = os.path.join(REPO_ROOT, "styleclip_getf.py")
PREDICTOR = os.path.join(REPO_ROOT, "ppgan", "apps", "styleganv2clip_predictor.py")
EDIT = os.path.join(REPO_ROOT, "applications", "tools", "styleganv2clip.py")
NARROW = {4: 16, 8: 16, 16: 8, 32: 8, 64: 4, 128: 4, 256: 4, 512: 4}
STYLE_DIM = 32


def run(script, *args, cwd):
    env = dict(os.environ, PPGAN_SYNTHESIS="eager")
    result = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, cwd=cwd, env=env,
                            timeout=600)
    return result


def error_lines(result):
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("clip") / "clip.pdparams")
    save_random_clip_weights(path, seed=0)
    return path


def make_model(root, size, name):
    """A random narrow generator of ``size`` px saved as ``stylegan2-{name}.pdparams``; returns (path, generator)."""
    paddle.seed(size)
    generator = StyleGANv2Generator(size, STYLE_DIM, 2, channels={r: w for r, w in NARROW.items() if r <= size})
    generator.eval()
    path = os.path.join(root, f"stylegan2-{name}.pdparams")
    paddle.save(generator.state_dict(), path)
    return path, generator


def run_pipeline(root, size, model_flags, name, clip_path):
    """Sample, statistics, extraction of 2 channels and an edit with the tools; returns the edit's output folder."""
    generator = StyleGANv2Generator(size, STYLE_DIM, 2, channels={r: w for r, w in NARROW.items() if r <= size})
    n_latent, rows = generator.n_latent, style_channel_count(generator.channels_lst, generator.style_layers)

    result = run(SAMPLE, *model_flags, "--n_row", "1", "--n_col", "2", "--output_path", "samples", cwd=root)
    assert result.returncode == 0, result.stderr
    assert np.asarray(Image.open(os.path.join(root, "samples", "sample.png"))).shape == (size, 2 * size, 3)
    latents = np.load(os.path.join(root, "samples", "latents.npy"))
    assert latents.shape == (2, n_latent, STYLE_DIM)

    result = run(GETF, *model_flags, "--num_samples", "20", "--num_saved", "4", "--batch_size", "10", cwd=root)
    assert result.returncode == 0, result.stderr
    for file in (f"S-{name}.pdparams", f"stylegan2-{name}-styleclip-stats.pdparams"):
        assert os.path.isfile(os.path.join(root, file)), os.listdir(root)

    result = run(PREDICTOR, "extract", *model_flags, "--clip_weight_path", clip_path, "--num_images", "2",
                 "--channel_range", "0:2", cwd=root)
    assert result.returncode == 0, result.stderr
    assert os.path.isfile(os.path.join(root, f"stylegan2-{name}-styleclip-global-directions.pdparams"))

    directions = np.random.default_rng(size).standard_normal((rows, 512)).astype(np.float32)
    save_directions(os.path.join(root, "fs3.pdparams"), directions / np.linalg.norm(directions, axis=1, keepdims=True))
    edit_flags = [*model_flags, "--direction_path", "fs3.pdparams", "--clip_weight_path", clip_path,
                  "--target", "smiling face", "--beta_threshold", "0.05", "--direction_offset", "0", "3"]
    result = run(EDIT, *edit_flags, "--latent", "samples/latents.npy", "--output_path", "edit", cwd=root)
    assert result.returncode == 0, result.stderr
    for face in ("face_0", "face_1"):
        assert Image.open(os.path.join(root, "edit", face, "dst.editing.png")).size == (size, size)

    ffhq_latent = np.zeros((18, 512), np.float32)  # an FFHQ 1024 px W+
    np.save(os.path.join(root, "ffhq.npy"), ffhq_latent)
    result = run(EDIT, *edit_flags, "--latent", "ffhq.npy", "--output_path", "wrong", cwd=root)
    assert result.returncode == 2 and error_lines(result) == [
        f"error: latent of shape [18, 512] does not fit this generator; pass W+ [{n_latent}, {STYLE_DIM}] or "
        f"[N, {n_latent}, {STYLE_DIM}] (N faces), or W [{STYLE_DIM}]"], result.stderr
    assert not os.path.exists(os.path.join(root, "wrong"))
    return rows


def free_port():
    """A port nothing listens on now (tests never take the page's default 7860, which a running page may hold)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_page(monkeypatch, argv):
    """Run the page's main up to launching, on a free port; returns (predictor, first latent, preview size) it
    would serve."""
    from ppgan import page
    from ppgan.cli import app
    from ppgan.page import layout

    started = {}

    class Launched:
        def queue(self):
            return self

        def launch(self, **kwargs):
            started["launch"] = kwargs

    def fake_build_app(predictor, latent, *args):
        started.update(predictor=predictor, latent=latent, editor=page.Editor(predictor, args[-2]))
        return Launched()

    monkeypatch.setattr(layout, "build_app", fake_build_app)
    app.main([*argv, "--port", str(free_port())])
    return started


@pytest.fixture
def default_port_taken():
    """127.0.0.1:7860 held, as by a page the user left running (or already held by one)."""
    with socket.socket() as busy:
        try:
            busy.bind(("127.0.0.1", 7860))
            busy.listen()
        except OSError:
            pass  # something else holds it: the test runs in the same conditions
        yield


def test_256px_pipeline_named_after_the_model(tmp_path, clip_path, monkeypatch, default_port_taken):
    root = str(tmp_path)
    path, generator = make_model(root, 256, "tiny256")
    run_pipeline(root, 256, ["--weight_path", path], "tiny256", clip_path)

    monkeypatch.setenv("PPGAN_SYNTHESIS", "eager")
    flags = ["--weight_path", path, "--direction_path", os.path.join(root, "fs3.pdparams"),
             "--clip_weight_path", clip_path]
    started = start_page(monkeypatch, [*flags, "--latent", os.path.join(root, "samples", "latents.npy")])
    assert started["predictor"].generator.size == 256 and started["latent"].shape == (14, STYLE_DIM)
    assert started["editor"].preview_size == 128  # at most half the model's size
    with pytest.raises(UserError, match=r"latent of shape \[18, 512\] does not fit this generator; pass W\+ \[14, "):
        start_page(monkeypatch, [*flags, "--latent", os.path.join(root, "ffhq.npy")])


@pytest.mark.slow
def test_512px_pipeline_with_a_config_file(tmp_path, clip_path, monkeypatch):
    root = str(tmp_path)
    make_model(root, 512, "anything")
    config = tmp_path / "cats.yaml"
    config.write_text("name: cats-512\nkind: stylegan2\nweights: {path: stylegan2-anything.pdparams}\n"
                      "architecture: {size: 512}\n")
    run_pipeline(root, 512, ["--config", str(config)], "cats-512", clip_path)

    monkeypatch.setenv("PPGAN_SYNTHESIS", "eager")
    started = start_page(monkeypatch, ["--config", str(config), "--direction_path", os.path.join(root, "fs3.pdparams"),
                                       "--clip_weight_path", clip_path])
    assert started["predictor"].generator.n_latent == 16 and started["editor"].preview_size == 256
    assert started["predictor"].spec.name == "cats-512"


@pytest.mark.parametrize("channel_multiplier, rows", [(2, 5760), (1, 4928)])
def test_direction_rows_of_full_width_256px_generators(tmp_path, channel_multiplier, rows):
    with paddle.LazyGuard():
        generator = StyleGANv2Generator(256, 512, 8, channel_multiplier=channel_multiplier)
    assert style_channel_count(generator.channels_lst, generator.style_layers) == rows
    assert generator.n_latent == 14
    ffhq = str(tmp_path / "ffhq-fs3.npy")
    np.save(ffhq, np.zeros((6048, 512), np.float32))
    with pytest.raises(UserError, match=f"{rows}") as info:
        load_directions(ffhq, generator.channels_lst, generator.style_layers)
    assert "\n" not in str(info.value)

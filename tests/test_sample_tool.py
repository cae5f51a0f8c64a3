"""applications/tools/styleganv2.py: a grid of sampled faces and their W+ latents."""
import os
import re
import subprocess
import sys

import numpy as np
import paddle
import pytest
from PIL import Image

from conftest import REPO_ROOT, SMALL_CHANNELS

TOOL = os.path.join(REPO_ROOT, "applications", "tools", "styleganv2.py")
CHANNELS = ",".join(f"{res}:{width}" for res, width in SMALL_CHANNELS.items())


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, cwd=REPO_ROOT)


def test_grid_and_latents_render_the_same_faces(small_generator, tmp_path):
    weights = tmp_path / "g.pdparams"
    paddle.save(small_generator.state_dict(), str(weights))
    out = tmp_path / "out"
    result = _run("--weight_path", str(weights), "--size", "64", "--style_dim", "64", "--n_mlp", "2",
                  "--channels", CHANNELS, "--n_row", "2", "--n_col", "3", "--seed", "5", "--output_path", str(out))
    assert result.returncode == 0, result.stderr
    grid = np.asarray(Image.open(out / "sample.png"))
    latents = np.load(out / "latents.npy")
    assert grid.shape == (2 * 64, 3 * 64, 3)
    assert latents.shape == (6, small_generator.n_latent, 64)
    with paddle.no_grad():
        images = small_generator.synthesis_from_styles(small_generator.style_affine(paddle.to_tensor(latents)))
    faces = np.clip((images.numpy() + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    # face 4 of 6 is row 1, column 1 of the grid (eager vs oneDNN rounding: one level at most)
    assert np.abs(grid[64:128, 64:128].astype(int) - faces[4].astype(int)).max() <= 1
    again = _run("--weight_path", str(weights), "--size", "64", "--style_dim", "64", "--n_mlp", "2",
                 "--channels", CHANNELS, "--n_row", "2", "--n_col", "3", "--seed", "5",
                 "--output_path", str(tmp_path / "again"))
    assert again.returncode == 0
    np.testing.assert_array_equal(np.load(tmp_path / "again" / "latents.npy"), latents)


def test_architecture_is_read_from_the_weights(small_generator, tmp_path):
    weights = tmp_path / "g.pdparams"
    paddle.save(small_generator.state_dict(), str(weights))
    result = _run("--weight_path", str(weights), "--n_row", "1", "--n_col", "2", "--output_path", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert np.asarray(Image.open(tmp_path / "out" / "sample.png")).shape == (64, 128, 3)
    assert np.load(tmp_path / "out" / "latents.npy").shape == (2, small_generator.n_latent, 64)


@pytest.mark.parametrize("flags, message", [
    (["--size", "1024"], "--size says size 1024, but .* holds a 64 px generator with style_dim 64, n_mlp 2"),
    (["--n_mlp", "0"], "--n_mlp says n_mlp 0, but"),
    (["--style_dim", "512"], "--style_dim says style_dim 512, but"),
    (["--channel_multiplier", "1"], "--channel_multiplier says channel_multiplier 1, but .*widths outside config-f"),
    (["--channels", "4:64"], "--channels says channels 4:64, but .*widths 4:32,8:32,16:16,32:16,64:8"),
    (["--size", "48"], "--size 48 is not a power of 2 of at least 8"),
    (["--channel_multiplier", "0"], "--channel_multiplier 0 must be at least 1"),
    (["--model_type", "animeface-512"], "--model_type animeface-512 says size 512, but"),
])
def test_mismatched_weights_are_one_line_errors(small_generator, tmp_path, flags, message):
    weights = tmp_path / "g.pdparams"
    paddle.save(small_generator.state_dict(), str(weights))
    result = _run("--weight_path", str(weights), *flags, "--output_path", str(tmp_path / "out"))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.match("error: " + message, errors[0]), result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "out")

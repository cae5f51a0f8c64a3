"""tools/convert_weights.py: rosinality PyTorch checkpoints -> PaddleGAN generators, without PyTorch."""
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import paddle

from conftest import FIXTURES, REPO_ROOT
from ppgan.models.formats.rosinality import SUPPORTED, pick_generator, rosinality_to_paddle
from ppgan.models.formats.torch_files import read_torch_checkpoint
from ppgan.models.loading import load_stylegan2
from ppgan.utils.errors import UserError

CHECKPOINT = os.path.join(FIXTURES, "rosinality_stylegan2_64px_small.pt")
REFERENCE = os.path.join(FIXTURES, "rosinality_stylegan2_64px_small_reference.npz")
TOOL = os.path.join(REPO_ROOT, "tools", "convert_weights.py")


def run_tool(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, cwd=REPO_ROOT)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("converted") / "stylegan2-small-64.pdparams")
    result = run_tool("--input", CHECKPOINT, "--output", path)
    assert result.returncode == 0, result.stderr
    assert "64 px, style_dim 64, n_mlp 2" in result.stdout
    return path


def test_converted_checkpoint_renders_pytorchs_images(converted):
    reference = np.load(REFERENCE)
    generator = load_stylegan2(weight_path=converted)  # no architecture flag: all read from the file
    assert (generator.size, generator.style_dim, generator.n_latent) == (64, 64, 10)
    with paddle.no_grad():
        w = generator.style(paddle.to_tensor(reference["z"]))
        image, _ = generator([paddle.to_tensor(reference["z"])], randomize_noise=False)
    np.testing.assert_allclose(w.numpy(), reference["w"], atol=1e-5)
    np.testing.assert_allclose(image.numpy(), reference["image"], atol=1e-4)


def test_layout_changes_are_transposes_and_dropped_blur_kernels():
    checkpoint = read_torch_checkpoint(CHECKPOINT, SUPPORTED)
    assert set(checkpoint) >= {"g", "d", "g_ema", "args"} and checkpoint["args"].size == 64
    g_ema = pick_generator(checkpoint)
    assert g_ema is checkpoint["g_ema"]
    converted = rosinality_to_paddle(g_ema)
    blur = [key for key in g_ema if key.endswith(".blur.kernel")]
    assert blur and set(converted) == set(g_ema) - set(blur)
    for key in ("style.1.weight", "conv1.conv.modulation.weight", "to_rgbs.2.conv.modulation.weight"):
        np.testing.assert_array_equal(converted[key], g_ema[key].T)
    np.testing.assert_array_equal(converted["convs.3.conv.weight"], g_ema["convs.3.conv.weight"])
    assert pick_generator(g_ema) is g_ema  # a bare state dict is taken as it is


def bad_files(tmp_path):
    with open(CHECKPOINT, "rb") as f:
        data = f.read()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[:len(data) // 2])
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint\n")
    nvlabs = tmp_path / "network-snapshot.pkl"
    nvlabs.write_bytes(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94.")
    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w") as archive:  # a pickle that would run os.system("true")
        archive.writestr("evil/data.pkl", b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.")
    return [(truncated, "not a PyTorch checkpoint .no zip archive, or a truncated one."),
            (text, "not a PyTorch checkpoint"),
            (nvlabs, "a plain pickle .an NVlabs .pkl"),
            (evil, "asks for os.system, which no weight or data file contains; it was not loaded")]


def test_bad_files_are_refused_in_one_line(tmp_path):
    for path, message in bad_files(tmp_path):
        with pytest.raises(UserError, match=message) as info:
            read_torch_checkpoint(str(path), SUPPORTED)
        assert "\n" not in str(info.value)
    checkpoint = read_torch_checkpoint(CHECKPOINT, SUPPORTED)
    with pytest.raises(UserError, match="holds no generator state dict"):
        pick_generator(checkpoint, "d")  # the fixture's discriminator is empty; a discriminator's keys:
    discriminator = {"convs.0.0.weight": np.zeros([8, 3, 1, 1], np.float32),
                     "final_linear.0.weight": np.zeros([8, 128], np.float32)}
    with pytest.raises(UserError, match="not a StyleGAN2 generator .keys convs.0.0.weight, .*a discriminator"):
        pick_generator(discriminator)
    with pytest.raises(UserError, match="has no entry 'G'"):
        pick_generator(checkpoint, "G")
    with pytest.raises(UserError, match="holds no generator state dict"):
        pick_generator(checkpoint, "args")


def test_tool_errors_are_one_line_and_write_nothing(tmp_path):
    truncated = bad_files(tmp_path)[0][0]
    output = tmp_path / "out.pdparams"
    for args in (["--input", str(truncated)], ["--input", CHECKPOINT, "--key", "d"]):
        result = run_tool(*args, "--output", str(output))
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.returncode == 2 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
        assert not output.exists()


def test_no_pytorch_involved():
    assert "torch" not in sys.modules
    for name in ("torch_files.py", "rosinality.py"):
        with open(os.path.join(REPO_ROOT, "ppgan", "models", "formats", name)) as f:
            assert "import torch" not in f.read()

"""Behaviours that differ between Paddle 2.6 and 3.x, pinned on whichever version runs the suite."""
import os
import subprocess
import sys

import numpy as np
import paddle
import paddle.nn as nn

from conftest import REPO_ROOT
from ppgan.styleclip.clip.preprocess import divide
from ppgan.utils.checkpoint import load_state_dict_strict


def small_network():
    return nn.Sequential(nn.Conv2D(3, 8, 3, 1, 1, bias_attr=False), nn.BatchNorm2D(8), nn.PReLU(8))


def test_strict_load_fills_lazily_created_parameters():
    """Paddle 2.6's ``set_state_dict`` skips parameters made under ``LazyGuard`` (no memory yet)."""
    paddle.seed(3)
    reference = small_network()
    reference.eval()
    state_dict = {name: paddle.randn(value.shape) for name, value in reference.state_dict().items()}
    state_dict = {name: value.abs() if name.endswith("_variance") else value for name, value in state_dict.items()}
    reference.set_state_dict(state_dict)
    with paddle.LazyGuard():
        lazy = small_network()
    load_state_dict_strict(lazy, state_dict)
    lazy.eval()
    pixels = paddle.randn([2, 3, 8, 8])
    with paddle.no_grad():
        np.testing.assert_array_equal(lazy(pixels).numpy(), reference(pixels).numpy())


def test_division_by_a_float_is_a_true_division():
    """Paddle 2.6 multiplies by the reciprocal for ``tensor / float``: ``divide`` must round as numpy does."""
    levels = np.arange(256, dtype=np.float32)
    for divisor in (255.0, 0.26862954, 0.27577711):
        np.testing.assert_array_equal(divide(paddle.to_tensor(levels), divisor).numpy(),
                                      levels / np.float32(divisor))


def test_decompression_works_after_paddle_loads():
    """Paddle 2.6 exports zlib functions that a zlib module loaded after it would call (a crash);
    ``import ppgan`` loads zlib first. PNG encoding, gzip and CLIP's vocabulary all inflate."""
    script = ("import ppgan, paddle, gzip, io, numpy as np\n"
              "from PIL import Image\n"
              "assert gzip.decompress(gzip.compress(b'face' * 100)) == b'face' * 100\n"
              "buffer = io.BytesIO()\n"
              "Image.fromarray(np.arange(192, dtype=np.uint8).reshape(8, 8, 3)).save(buffer, format='PNG')\n"
              "assert np.asarray(Image.open(buffer)).sum() == np.arange(192).sum()\n"
              "import clip, numpy.random\n")
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    assert result.returncode == 0, result.stderr[-2000:]

"""A full disk: the edit, the export and the statistics script fail with one line and leave nothing behind.

A real tmpfs of a few hundred KB is mounted by the test (root only; skipped otherwise)
and filled up to a few KB; each job must then fail with a one-line error, leave the
small disk exactly as it was, and succeed on a roomy disk right after.
"""
import os
import re
import subprocess

import numpy as np
import paddle
import pytest
from PIL import Image

from conftest import SMALL_CHANNELS

from ppgan.cli.common import run_cli

SMALL = ["--size", "64", "--style_dim", "64", "--n_mlp", "2", "--channels", "4:32,8:32,16:16,32:16,64:8"]


def _listing(root):
    return sorted((os.path.relpath(os.path.join(folder, name), root), os.path.getsize(os.path.join(folder, name)))
                  for folder, dirs, names in os.walk(root) for name in names + dirs
                  if not os.path.isdir(os.path.join(folder, name))) + sorted(
        os.path.relpath(os.path.join(folder, name), root) for folder, dirs, _ in os.walk(root) for name in dirs)


@pytest.fixture
def small_disk(tmp_path):
    """A mounted 512 KB tmpfs; ``fill(free_bytes)`` leaves about that much space on it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")

    def fill(free_bytes):
        stat = os.statvfs(mount_point)
        with open(mount_point / "filler", "wb") as f:
            f.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - free_bytes))

    try:
        yield mount_point, fill
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.fixture(scope="module")
def generator_file(tmp_path_factory):
    from ppgan.models.generators import StyleGANv2Generator

    paddle.seed(0)
    generator = StyleGANv2Generator(64, 64, 2, channels=SMALL_CHANNELS)
    generator.eval()
    path = str(tmp_path_factory.mktemp("full_disk") / "g.pdparams")
    paddle.save(generator.state_dict(), path)
    return path, generator


def _fails_with_one_line(main, argv, capsys, reason="No space left on device"):
    """Exit 2 and one error line (after any progress bar), the last one, naming a full disk."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and err.endswith(errors[0]), err
    assert errors[0].startswith("error: cannot write ") and re.search(reason, errors[0]), err
    assert "Traceback" not in err and ".tmp" not in err


def test_edit_on_a_full_disk(small_disk, generator_file, tmp_path, capsys):
    from ppgan.apps.styleganv2clip_predictor import StyleGANv2ClipPredictor

    disk, fill = small_disk
    weights, generator = generator_file
    rows = sum(generator.channels_lst[layer] for layer in generator.style_layers)
    fs3 = np.random.default_rng(0).standard_normal((rows, 512)).astype(np.float32)
    fs3 /= np.linalg.norm(fs3, axis=1, keepdims=True)
    np.save(tmp_path / "fs3.npy", fs3)
    predictor = StyleGANv2ClipPredictor(str(disk / "edit"), weight_path=weights, direction_path=str(tmp_path / "fs3.npy"),
                                        clip_weight_path=weights, size=64, style_dim=64, n_mlp=2,
                                        channels=SMALL_CHANNELS)
    delta_t = fs3[:3].sum(0) / np.linalg.norm(fs3[:3].sum(0))
    predictor.__dict__["text_direction"] = type("Stub", (), {"delta_t": lambda self, n, t: delta_t})()

    def edit(argv):
        predictor.output_path = argv[0]
        predictor.run(None, "face", "smiling face", [-2, 0, 2, 4], 0.05)

    fill(8 * 1024)
    before = _listing(disk)
    _fails_with_one_line(edit, [str(disk / "edit")], capsys)
    assert _listing(disk) == before  # no folder, no file, no temporary
    edit([str(tmp_path / "roomy")])
    written = sorted(os.listdir(tmp_path / "roomy"))
    assert written == sorted(["src.editing.png", "dst.editing_-2.png", "dst.editing_0.png", "dst.editing_2.png",
                              "dst.editing_4.png", "dst.editing.png", "dst.editing_strip.png", "dst.editing.pd"])
    assert np.asarray(Image.open(tmp_path / "roomy" / "dst.editing_strip.png")).shape == (64, 5 * 64, 3)


def test_export_on_a_full_disk(small_disk, generator_file, tmp_path, capsys):
    import importlib.util

    from conftest import REPO_ROOT

    spec = importlib.util.spec_from_file_location("export_tool", os.path.join(REPO_ROOT, "tools", "export_model.py"))
    export_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export_tool)
    disk, fill = small_disk
    weights, _ = generator_file
    fill(64 * 1024)  # Paddle 3 writes its files cut short here without raising (read back: "the disk is full"); 2.6 raises
    before = _listing(disk)
    _fails_with_one_line(export_tool.main, ["--weight_path", weights, *SMALL, "--output_dir", str(disk / "exported")],
                         capsys, "the disk is full|No space left on device")
    assert _listing(disk) == before
    run_cli(export_tool.main, ["--weight_path", weights, *SMALL, "--output_dir", str(tmp_path / "roomy")])
    from ppgan.utils.compiled import create_cpu_predictor

    assert create_cpu_predictor(str(tmp_path / "roomy"), "synthesis") is not None


def test_statistics_on_a_full_disk(small_disk, tmp_path, capsys):
    import importlib.util

    from conftest import REPO_ROOT
    from ppgan.models.generators import StyleGANv2Generator

    paddle.seed(0)
    weights = str(tmp_path / "g8.pdparams")
    paddle.save(StyleGANv2Generator(8, 16, 1).state_dict(), weights)  # 8 px: 2,576 style channels
    spec = importlib.util.spec_from_file_location("getf", os.path.join(REPO_ROOT, "styleclip_getf.py"))
    getf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(getf)
    disk, fill = small_disk
    fill(16 * 1024)
    args = ["--weight_path", weights, "--size", "8", "--style_dim", "16", "--n_mlp", "1",
            "--num_samples", "200", "--num_saved", "20", "--dataset_name", "tiny"]
    before = _listing(disk)
    _fails_with_one_line(getf.main, args + ["--output_dir", str(disk / "stats")], capsys)
    assert _listing(disk) == before
    run_cli(getf.main, args + ["--output_dir", str(tmp_path / "roomy")])
    assert sorted(os.listdir(tmp_path / "roomy")) == ["S-tiny.pdparams", "stylegan2-tiny-styleclip-stats.pdparams"]

"""The code path a GPU runs, checked on the CPU: device choice, batch sizes for GPU memory, float32 only.

No GPU is available here: the device choice is checked at ``select_device`` (every tool passes
its ``--cpu`` there before any model loads), the batch sizes against a brute-force search over
card sizes, and the eager path (edit, extraction, pSp, fitting) by recording the dtype of every
tensor made from host data: a float64 array given to ``paddle.to_tensor`` would run in float64
on the device.
"""
import os
import socket

import numpy as np
import paddle
import pytest
from PIL import Image

from conftest import FIXTURES, SMALL_CHANNELS, SMALL_FLAGS, tool_main

from ppgan.styleclip.extract.plan import (CPU_BATCH_SIZE, GPU_BATCH_SIZE, GPU_RESERVED_BYTES, RENDER_BYTES_1024,
                                          default_batch_size, default_render_batch)
from ppgan.utils import runtime

GB = 2 ** 30
PHOTO = os.path.join(FIXTURES, "face_psp_input.jpg")


class DeviceChosen(Exception):
    """Raised by the recording ``select_device``: the tool got that far, no model was loaded."""


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tool_cases():
    out = "{tmp}/out"
    generator = ["--weight_path", "{weights}", *SMALL_FLAGS]
    return {
        "styleganv2": generator + ["--output_path", out],
        "getf": generator + ["--output_dir", out, "--num_samples", "100", "--num_saved", "10"],
        "psp": ["--input_image", PHOTO, "--output_path", out],
        "fitting": generator + ["--input_image", PHOTO, "--output_path", out],
        "export": generator + ["--output_dir", out],
        "edit": generator + ["--target", "smiling face", "--output_path", out],
        "extract": generator + ["--output", out + "/fs3.pdparams"],
        "app": generator + ["--port", str(_free_port())],
    }


@pytest.mark.parametrize("tool", list(_tool_cases()))
@pytest.mark.parametrize("cpu", [True, False])
def test_every_tool_passes_its_cpu_flag_to_the_device_choice(tool, cpu, small_generator_weights, tmp_path,
                                                              monkeypatch):
    chosen = []

    def record(cpu=False):
        chosen.append(cpu)
        raise DeviceChosen

    monkeypatch.setattr(runtime, "select_device", record)
    (tmp_path / "out").mkdir()
    argv = [arg.format(tmp=tmp_path, weights=small_generator_weights) for arg in _tool_cases()[tool]] + (["--cpu"] if cpu else [])
    with pytest.raises(DeviceChosen):
        tool_main(tool)(argv)
    assert chosen == [cpu]


def test_face_align_accepts_cpu(tmp_path):
    tool_main("face_align")(["--input_image", PHOTO, "--output_path", str(tmp_path), "--size", "64", "--cpu"])
    assert os.path.isfile(tmp_path / "face_psp_input_aligned.png")


def test_select_device_takes_the_gpu_only_when_paddle_has_cuda_and_cpu_is_not_asked(monkeypatch):
    devices = []
    monkeypatch.setattr(paddle, "set_device", devices.append)
    monkeypatch.setattr(paddle, "is_compiled_with_cuda", lambda: True)
    assert runtime.select_device(cpu=False) == "gpu"
    assert runtime.select_device(cpu=True) == "cpu"
    monkeypatch.setattr(paddle, "is_compiled_with_cuda", lambda: False)
    assert runtime.select_device(cpu=False) == "cpu"
    assert devices == ["gpu", "cpu", "cpu"]


def test_gpu_memory_is_none_on_the_cpu():
    paddle.set_device("cpu")
    assert runtime.gpu_memory_bytes() is None


def _largest_fitting_divisor(size, batch_size, memory):
    """Brute force: the largest divisor d of batch_size with reserve + d renders' activations <= memory."""
    per_render = 1.25 * GB * (size / 1024) ** 2
    fitting = [d for d in range(1, batch_size + 1) if batch_size % d == 0 and 2 * GB + d * per_render <= memory]
    return max(fitting, default=1)


@pytest.mark.parametrize("size", [256, 512, 1024])
@pytest.mark.parametrize("batch_size", [2, 4, 12, 16, 32])
@pytest.mark.parametrize("memory_gb", [4, 6, 8, 11, 12, 16, 24, 40, 80])
def test_gpu_render_batch_is_the_largest_divisor_that_fits_the_card(size, batch_size, memory_gb):
    assert (GPU_RESERVED_BYTES, RENDER_BYTES_1024) == (2 * GB, 1.25 * GB)
    assert default_render_batch(size, batch_size, memory_gb * GB) == _largest_fitting_divisor(size, batch_size,
                                                                                              memory_gb * GB)


def test_batch_sizes_per_device():
    assert (default_batch_size(None), default_batch_size(8 * GB)) == (CPU_BATCH_SIZE, GPU_BATCH_SIZE) == (4, 16)
    assert [default_render_batch(1024, 16, m * GB) for m in (6, 8, 12, 16, 24)] == [2, 4, 8, 8, 16]  # docs/gpu.md
    assert [default_render_batch(size, 4) for size in (1024, 512, 256, 64)] == [1, 4, 4, 4]  # CPU: (1024/size)^2


def test_extractor_takes_gpu_batch_sizes_from_the_card(small_generator, monkeypatch):
    from ppgan.styleclip.extract import worker

    widths = small_generator.channels_lst
    s_codes = [np.zeros((2, w), np.float32) for w in widths]
    mean, std = [np.zeros(w, np.float32) for w in widths], [np.ones(w, np.float32) for w in widths]
    monkeypatch.setattr(worker, "gpu_memory_bytes", lambda: 8 * GB)
    on_gpu = worker.DirectionWorker(small_generator, None, s_codes, mean, std, eager=True)
    assert (on_gpu.batch_size, on_gpu.render_batch) == (16, 16)  # 64 px renders: the whole batch fits
    monkeypatch.setattr(worker, "gpu_memory_bytes", lambda: None)
    on_cpu = worker.DirectionWorker(small_generator, None, s_codes, mean, std, eager=True)
    assert (on_cpu.batch_size, on_cpu.render_batch) == (4, 4)


@pytest.fixture
def host_to_device_dtypes(monkeypatch):
    """Records the dtype of every tensor ``paddle.to_tensor`` makes while the fixture is active."""
    made = []
    to_tensor = paddle.to_tensor

    def recording(data, *args, **kwargs):
        tensor = to_tensor(data, *args, **kwargs)
        made.append(str(tensor.dtype))
        return tensor

    monkeypatch.setattr(paddle, "to_tensor", recording)
    return made


def _float_dtypes(made):
    return sorted({dtype for dtype in made if "float" in dtype})


def test_eager_edit_and_extraction_make_float32_tensors_only(tmp_path, random_clip_file, small_generator,
                                                           host_to_device_dtypes, monkeypatch):
    from ppgan.apps.styleganv2clip_predictor import StyleGANv2ClipPredictor
    from ppgan.styleclip.clip import ClipEncoder
    from ppgan.styleclip.directions import style_channel_count
    from ppgan.styleclip.extract import DirectionExtractor
    from ppgan.styleclip.stats import collect_statistics, save_statistics_files

    g = small_generator
    weights, s_path, stat_path = (str(tmp_path / name) for name in ("g.pdparams", "S.pdparams", "stats.pdparams"))
    paddle.save(g.state_dict(), weights)
    stats, s_codes = collect_statistics(g, 64, 8, 8, seed=0)
    save_statistics_files(s_path, stat_path, s_codes, stats.mean, stats.std())
    rows = style_channel_count(g.channels_lst, g.style_layers)
    fs3 = np.random.default_rng(0).standard_normal((rows, 512))  # float64 on purpose: the file is read as float32
    np.save(tmp_path / "fs3.npy", fs3)
    host_to_device_dtypes.clear()
    monkeypatch.setenv("PPGAN_SYNTHESIS", "eager")  # the GPU's path

    encoder = ClipEncoder(random_clip_file)
    extractor = DirectionExtractor(g, encoder.image_tower, [s[:2] for s in s_codes], stats.mean, stats.std(), 5.0, 4, eager=True)
    extractor.extract((0, 4), str(tmp_path / "out.npy"), fingerprint="test")
    predictor = StyleGANv2ClipPredictor(str(tmp_path / "edit"), weight_path=weights, size=64, style_dim=64, n_mlp=2,
                                        channels=SMALL_CHANNELS, direction_path=str(tmp_path / "fs3.npy"),
                                        stat_path=stat_path, clip_weight_path=random_clip_file, scale_by_std=True)
    predictor.run(None, "face", "smiling face", offset=[2.0], beta_threshold=0.0)
    assert host_to_device_dtypes and _float_dtypes(host_to_device_dtypes) == ["paddle.float32"]


def test_eager_psp_and_fitting_make_float32_tensors_only(random_psp_file, small_generator, host_to_device_dtypes):
    from ppgan.apps.pixel2style2pixel_predictor import Pixel2Style2PixelPredictor
    from ppgan.inversion.fitting import LatentFitter

    photo = Image.open(PHOTO).convert("RGB").resize((256, 256))
    latent = Pixel2Style2PixelPredictor(weight_path=random_psp_file).encode(photo)
    assert latent.dtype == np.float32
    g = small_generator
    target = np.zeros((1, 3, g.size, g.size), np.float64)  # float64 on purpose: the fitter makes it float32
    initial = np.zeros((1, g.n_latent, g.style_dim), np.float32)
    LatentFitter(g).fit(target, initial, range(g.n_latent), steps=2)
    assert host_to_device_dtypes and _float_dtypes(host_to_device_dtypes) == ["paddle.float32"]

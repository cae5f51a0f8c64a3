"""Statistics step: streaming mean/std, the sampling order, file formats and styleclip_getf.py."""
import importlib.util
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import paddle

from ppgan.models.loading import load_stylegan2
from ppgan.models.generators import StyleGANv2Generator
from ppgan.models.generators.generator_styleganv2 import MEAN_LATENT_SAMPLES
from ppgan.styleclip.stats import (StyleStatistics, collect_statistics, iterate_s_codes,
                                   load_s_codes, load_stats, s_codes_file_name, write_s_codes, write_stats,
                                   split_layers, stats_file_name)
from ppgan.utils.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "styleclip_getf.py")
RELEASED_STATS = os.path.join(REPO, "tests", "fixtures", "stylegan2-ffhq-config-f-styleclip-stats.pdparams")
CHANNELS_1024 = [512] * 15 + [256, 256, 256, 128, 128, 128, 64, 64, 64, 32, 32]
TORGB_1024 = [1, 4, 7, 10, 13, 16, 19, 22, 25]
# The smallest generator the CLI flags can describe: 5 style layers of 512 channels, W+ rows [0, 1, 1, 2, 3].
MODEL_FLAGS = ["--size", "8", "--style_dim", "16", "--n_mlp", "2"]
DATASET = "tiny"


def load_getf():
    spec = importlib.util.spec_from_file_location("styleclip_getf", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


getf = load_getf()


@pytest.fixture(scope="module")
def weight_path(tmp_path_factory):
    paddle.seed(0)
    path = str(tmp_path_factory.mktemp("weights") / "stylegan2-tiny.pdparams")
    paddle.save(StyleGANv2Generator(8, 16, 2).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def generator(weight_path):
    return load_stylegan2(weight_path=weight_path, size=8, style_dim=16, n_mlp=2)


def run_getf(weight_path, output_dir, *flags):
    """styleclip_getf.main in-process; returns (S samples path, statistics path)."""
    getf.main(["--weight_path", weight_path, *MODEL_FLAGS, "--dataset_name", DATASET,
               "--output_dir", str(output_dir), *flags])
    return (os.path.join(output_dir, s_codes_file_name(DATASET)), os.path.join(output_dir, stats_file_name(DATASET)))


def numpy_s_codes(generator, z, truncation, w_centre):
    """Reference mapping: z -> w -> truncation of every row -> style_affine, as float64 numpy per layer."""
    with paddle.no_grad():
        w = generator.style(paddle.to_tensor(z.astype(np.float32)))
        w = w_centre + truncation * (w - w_centre)
        return [s.numpy().astype(np.float64) for s in generator.style_affine(w)]


def test_streaming_statistics_equal_numpy_for_any_batching():
    data = np.random.default_rng(0).normal(3.0, 2.0, size=(101, 7))
    stats = StyleStatistics([4, 3])
    for start, stop in [(0, 1), (1, 40), (40, 41), (41, 101)]:
        stats.update(split_layers(data[start:stop], [4, 3]))
    assert stats.count == 101
    np.testing.assert_allclose(np.concatenate(stats.mean), data.mean(0), rtol=1e-12)
    np.testing.assert_allclose(np.concatenate(stats.std()), data.std(0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(np.concatenate(stats.std(ddof=0)), data.std(0), rtol=1e-12)


def test_cli_stats_equal_saved_samples_and_independent_mapping(weight_path, generator, tmp_path, capsys):
    num = 300
    s_path, stats_path = run_getf(weight_path, tmp_path, "--num_samples", str(num), "--num_saved", str(num),
                                  "--batch_size", "128", "--seed", "7", "--truncation", "0.7")
    assert "300 samples, 2560 channels in 5 layers" in capsys.readouterr().out
    s_codes = load_s_codes(s_path, generator.channels_lst)
    mean, std = load_stats(stats_path, generator.channels_lst)
    for layer, s in enumerate(s_codes):
        assert s.dtype == np.float32 and s.shape == (num, generator.channels_lst[layer])
        np.testing.assert_allclose(mean[layer], s.mean(0, dtype=np.float64), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(std[layer], s.std(0, ddof=1, dtype=np.float64), rtol=1e-4)

    rng = np.random.RandomState(7)
    rng.randn(MEAN_LATENT_SAMPLES, 16)
    z = rng.randn(num, 16)
    with paddle.no_grad():
        w_centre = generator.mean_latent(MEAN_LATENT_SAMPLES, seed=7)
    expected = numpy_s_codes(generator, z, 0.7, w_centre)
    for layer, (s, ref) in enumerate(zip(s_codes, expected)):
        np.testing.assert_allclose(s, ref, rtol=1e-5, atol=1e-5, err_msg=f"S layer {layer}")
        np.testing.assert_allclose(mean[layer], ref.mean(0), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(std[layer], ref.std(0, ddof=1), rtol=1e-4)


def test_same_seed_gives_identical_files(weight_path, tmp_path):
    flags = ["--num_samples", "50", "--num_saved", "20", "--batch_size", "16"]
    first = run_getf(weight_path, tmp_path / "a", *flags)
    second = run_getf(weight_path, tmp_path / "b", *flags)
    other_seed = run_getf(weight_path, tmp_path / "c", *flags, "--seed", "99")
    for path_a, path_b, path_c in zip(first, second, other_seed):
        with open(path_a, "rb") as a, open(path_b, "rb") as b, open(path_c, "rb") as c:
            data = a.read()
            assert data == b.read()
            assert data != c.read()


def test_batch_size_does_not_change_the_result(generator):
    args = dict(num_samples=120, num_saved=90, seed=3, truncation=0.7)
    stats_odd, saved_odd = collect_statistics(generator, batch_size=50, **args)
    stats_even, saved_even = collect_statistics(generator, batch_size=40, **args)
    assert stats_odd.count == stats_even.count == 120
    for a, b in zip(stats_odd.mean + stats_odd.std() + saved_odd, stats_even.mean + stats_even.std() + saved_even):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert saved_odd[0].shape == (90, 512)


def test_truncation_cutoff_counts_w_plus_rows(weight_path, generator, tmp_path):
    cutoff = 2
    s_path, _ = run_getf(weight_path, tmp_path, "--num_samples", "40", "--num_saved", "40",
                         "--truncation_cutoff", str(cutoff))
    s_codes = load_s_codes(s_path, generator.channels_lst)
    untruncated = split_layers(next(iterate_s_codes(generator, 40, 40, seed=1234, truncation=1.0)),
                               generator.channels_lst)
    truncated = split_layers(next(iterate_s_codes(generator, 40, 40, seed=1234, truncation=0.7)),
                             generator.channels_lst)
    for layer, w_row in enumerate(generator.w_idx_lst):
        expected = untruncated[layer] if w_row >= cutoff else truncated[layer]
        other = truncated[layer] if w_row >= cutoff else untruncated[layer]
        np.testing.assert_allclose(s_codes[layer], expected, rtol=1e-5, atol=1e-5, err_msg=f"layer {layer}")
        assert not np.allclose(s_codes[layer], other, rtol=1e-3, atol=1e-3)


def test_released_stats_fixture_loads():
    raw = paddle.load(RELEASED_STATS)
    assert set(raw) == {"mean", "std"} and len(raw["mean"]) == 26
    mean, std = load_stats(RELEASED_STATS, CHANNELS_1024)
    assert len(mean) == len(std) == 26 and sum(m.size for m in mean) == 9088
    assert all(m.dtype == np.float32 for m in mean + std)
    assert all(np.isfinite(s).all() and (s > 0).all() for s in std)
    for layer in range(26):
        if layer in TORGB_1024:
            assert abs(mean[layer].mean()) < 0.2 and 0.1 < std[layer].mean() < 0.5
        else:
            assert 0.5 < mean[layer].mean() < 10 and 0.9 < std[layer].mean() < 2.5


def test_official_pickles_and_paddlegan_files_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    channels = [6, 4, 3]
    mean = [rng.normal(size=c).astype(np.float32) for c in channels]
    std = [rng.uniform(0.1, 2, size=c).astype(np.float32) for c in channels]
    s_codes = [rng.normal(size=(10, c)).astype(np.float32) for c in channels]
    with open(tmp_path / "S_mean_std", "wb") as f:
        pickle.dump([mean, std], f)
    with open(tmp_path / "S", "wb") as f:
        pickle.dump([["conv1", "ToRGB", "conv2"], s_codes], f)
    write_stats(str(tmp_path / "stats.pdparams"), mean, std)
    write_s_codes(str(tmp_path / "S.pdparams"), s_codes)

    for name in ["S_mean_std", "stats.pdparams"]:
        loaded_mean, loaded_std = load_stats(str(tmp_path / name), channels)
        for a, b in zip(loaded_mean + loaded_std, mean + std):
            np.testing.assert_array_equal(a, b)
    for name in ["S", "S.pdparams"]:
        loaded = load_s_codes(str(tmp_path / name), channels, num=4)
        for a, b in zip(loaded, s_codes):
            np.testing.assert_array_equal(a, b[:4])
    with pytest.raises(UserError, match="has 10 S samples, 11 are needed"):
        load_s_codes(str(tmp_path / "S.pdparams"), channels, num=11)


def test_layer_count_and_width_mismatch_are_clear_errors(tmp_path):
    with pytest.raises(UserError, match="has 26 style layers, the generator 5"):
        load_stats(RELEASED_STATS, [512] * 5)
    with pytest.raises(UserError, match="layer 15 has 256 channels, the generator 512"):
        load_stats(RELEASED_STATS, [512] * 26)
    write_s_codes(str(tmp_path / "S.pdparams"), [np.zeros((2, 3), np.float32)])
    with pytest.raises(UserError, match="has 1 style layers, the generator 2"):
        load_s_codes(str(tmp_path / "S.pdparams"), [3, 3])


@pytest.mark.parametrize("case", ["num_saved", "unwritable", "weights"])
def test_bad_input_exits_with_one_line_and_no_files(weight_path, tmp_path, case):
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    flags = ["--weight_path", weight_path, *MODEL_FLAGS, "--num_samples", "10", "--num_saved", "5"]
    if case == "num_saved":
        flags += ["--num_saved", "11", "--output_dir", str(output_dir)]
        message = "--num_saved 11 must be between 1 and --num_samples 10"
    elif case == "unwritable":
        (tmp_path / "a_file").write_text("")
        flags += ["--output_dir", str(tmp_path / "a_file" / "out")]
        message = "is inside " + str(tmp_path / "a_file") + ", a file, not a folder; pass another --output_dir"
    else:
        flags += ["--size", "16", "--output_dir", str(output_dir)]
        message = "--size says size 16, but"
    result = subprocess.run([sys.executable, SCRIPT, *flags], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert list(tmp_path.rglob("*.pdparams")) == []

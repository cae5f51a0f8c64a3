"""Global direction extraction: plan, reduction, agreement with a plain reference, resume, ranks, bad inputs."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import raises_user_error

import paddle

from ppgan.cli.extract import parse_channel_range
from ppgan.models.loading import load_stylegan2
from ppgan.models.generators import StyleGANv2Generator
from ppgan.styleclip.clip import ClipEncoder, clip_preprocess, pil_preprocess, save_random_clip_weights
from ppgan.styleclip.directions import channel_direction
from ppgan.styleclip.extract import (Batch, DirectionExtractor, DirectionWorker, check_s_codes_match_stats,
                                     extraction_bf16, finish_directions, layer_row_offsets, merge_parts, moved_styles,
                                     part_path, plan_rows)
from ppgan.styleclip.extract import precision
from ppgan.styleclip.extract.precision import sample_rows
from ppgan.styleclip.extract.job import _save_npz
from ppgan.styleclip.extract.plan import batch_items, plan_batches
from ppgan.styleclip.extract.worker import accumulate_differences
from ppgan.styleclip.stats import (collect_statistics, load_s_codes, load_stats, write_s_codes, save_statistics_files,
                                   write_stats)
from ppgan.utils import compiled, engines
from ppgan.cli.common import run_cli
from ppgan.utils.errors import UserError
from ppgan.utils.image import to_uint8

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREDICTOR = os.path.join(REPO, "ppgan", "apps", "styleganv2clip_predictor.py")
CHANNELS = {4: 32, 8: 32, 16: 16, 32: 8}
MODEL_FLAGS = ["--size", "32", "--style_dim", "64", "--n_mlp", "2", "--channels", "4:32,8:32,16:16,32:8"]
# Tiny generator: style layers [0, 2, 3, 5, 6, 8, 9] of widths [32, 32, 32, 32, 16, 16, 8]: 168 rows,
# layer 2 starts at row 32. BATCH=4 makes batches of 2 channels x 2 signs of one S code.
NUM_IMAGES, BATCH, ROWS = 3, 4, (29, 35)
CLI_ROWS = "30:34"


def tiny_generator(seed=0):
    paddle.seed(seed)
    generator = StyleGANv2Generator(32, 64, 2, channels=CHANNELS)
    generator.eval()
    return generator


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Generator, S samples, statistics and random CLIP weights on disk (CLIP: ~600 MB, written once)."""
    root = tmp_path_factory.mktemp("extract")
    generator = tiny_generator()
    paths = {name: str(root / f"{name}.pdparams") for name in ("generator", "S", "stats", "clip")}
    paddle.save(generator.state_dict(), paths["generator"])
    stats, s_codes = collect_statistics(generator, 200, 8, 100, seed=0)
    save_statistics_files(paths["S"], paths["stats"], s_codes, stats.mean, stats.std())
    save_random_clip_weights(paths["clip"])
    paths["root"] = root
    return paths


@pytest.fixture(scope="module")
def inputs(files):
    """(generator, ClipEncoder, S codes [NUM_IMAGES], mean, std) as the CLI loads them."""
    generator = load_stylegan2(weight_path=files["generator"], size=32, style_dim=64, n_mlp=2, channels=CHANNELS)
    s_codes = load_s_codes(files["S"], generator.channels_lst, NUM_IMAGES)
    mean, std = load_stats(files["stats"], generator.channels_lst)
    return generator, ClipEncoder(files["clip"]), s_codes, mean, std


def make_extractor(inputs, batch_size=BATCH, render_batch=None):
    generator, encoder, s_codes, mean, std = inputs
    return DirectionExtractor(generator, encoder.image_tower, s_codes, mean, std, 5.0, batch_size, render_batch)


def extract_rows(inputs, rows, batch_size=BATCH, render_batch=None):
    """fs3 rows [start, stop) computed in-process by the extractor."""
    extractor = make_extractor(inputs, batch_size, render_batch)
    plan = extractor.plan(rows)
    positions = np.full(extractor.total_rows, -1)
    positions[rows[0]:rows[1]] = np.arange(rows[1] - rows[0])
    sums = np.zeros((rows[1] - rows[0], 512))
    extractor.run(plan, sums, positions)
    return finish_directions(sums)


@pytest.fixture(scope="module")
def rows_batched(inputs):
    return extract_rows(inputs, ROWS)


def cli_args(files, output, *extra):
    return ["extract", "--weight_path", files["generator"], *MODEL_FLAGS, "--S_path", files["S"],
            "--stat_path", files["stats"], "--clip_weight_path", files["clip"], "--num_images", "2",
            "--batch_size", "4", "--channel_range", CLI_ROWS, "--output", str(output), *extra]


def run_extract(args):
    return subprocess.run([sys.executable, PREDICTOR, *args], cwd=REPO, capture_output=True, text=True)


@pytest.fixture(scope="module")
def uninterrupted(files):
    """Bytes of the output of an uninterrupted single-process CLI run."""
    output = files["root"] / "single.pdparams"
    result = run_extract(cli_args(files, output, "--checkpoint_every", "1"))
    assert result.returncode == 0, result.stderr
    assert not os.path.exists(f"{output}.ckpt.npz")
    return output.read_bytes()


# --- pure pieces ---------------------------------------------------------------------------------------------

LAYOUT = ([32, 32, 32, 32, 32, 32, 16, 16, 16, 8, 8], [0, 2, 3, 5, 6, 8, 9])


def covered(plan):
    """{(row, image): count} of a plan."""
    offsets = dict(layer_row_offsets(*LAYOUT))
    counts = {}
    for batch in plan:
        channel, _ = batch_items(batch)
        for c in set(channel):
            key = (offsets[batch.layer] + c, batch.image)
            counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize("batch_size,num_images", [(12, 3), (4, 5), (2, 1), (7, 2)])
def test_plan_covers_each_row_and_image_once_and_ranks_split_it(batch_size, num_images):
    rows = (20, 100)  # crosses layers 0 -> 2 -> 3 -> 5
    single = plan_batches(*LAYOUT, rows, num_images, batch_size)
    counts = covered(single)
    assert sorted(counts) == [(r, i) for r in range(*rows) for i in range(num_images)]
    assert set(counts.values()) == {1}
    assert all(1 <= len(b.channels) <= max(1, batch_size // 2) for b in single)
    per_rank = [plan_batches(*LAYOUT, rows, num_images, batch_size, rank, 3) for rank in range(3)]
    merged = [b for plan in per_rank for b in plan]
    assert len(merged) == len(single) and set(merged) == set(single)
    rank_rows = [set(plan_rows(plan, *LAYOUT)) for plan in per_rank]
    assert sum(map(len, rank_rows)) == rows[1] - rows[0] and set.union(*rank_rows) == set(range(*rows))


def test_batch_of_a_channel_does_not_depend_on_range_or_rank():
    """Groups are aligned to the layer start: a channel's batches are the same in any run that holds its group."""
    def batches_of(plan, layer, channel):
        return [b for b in plan if b.layer == layer and channel in b.channels]

    full = plan_batches(*LAYOUT, (0, 168), 3, 12)
    for rows, rank, world in [((33, 100), 0, 1), ((34, 40), 1, 2), ((0, 168), 2, 4)]:
        plan = plan_batches(*LAYOUT, rows, 3, 12, rank, world)
        for batch in plan:
            for channel in batch.channels:
                if len(batch.channels) == 6:
                    assert batches_of(plan, batch.layer, channel) == batches_of(full, batch.layer, channel)


def test_moved_styles_moves_one_channel_per_render():
    codes = np.arange(12, dtype=np.float32).reshape(3, 4)
    mean, std = np.array([10, 20, 30, 40], np.float32), np.array([1, 2, 3, 4], np.float32)
    moved = moved_styles(codes, np.array([1, 3, 1]), np.array([-1, 1, 1], np.float32), mean, std, 5.0)
    np.testing.assert_array_equal(moved, [[0, 10, 2, 3], [4, 5, 6, 60], [8, 30, 10, 11]])
    assert codes[0, 1] == 1  # the input is not modified


def test_streaming_reduction_equals_channel_direction():
    rng = np.random.RandomState(0)
    plus, minus = rng.randn(3, 10, 512).astype(np.float32), rng.randn(3, 10, 512).astype(np.float32)
    sums = np.zeros((3, 512))
    pairs = [(row, image) for row in range(3) for image in range(10)]
    for chunk in np.array_split(np.array(pairs)[rng.permutation(30)], 7):
        rows, images = chunk[:, 0], chunk[:, 1]
        accumulate_differences(sums, rows, minus[rows, images], plus[rows, images])
    np.testing.assert_allclose(finish_directions(sums), channel_direction(plus, minus), atol=1e-6)


def test_channel_range_parsing():
    assert parse_channel_range(None, 168) == (0, 168)
    assert parse_channel_range("10:20", 168) == (10, 20)
    assert parse_channel_range(":5", 168) == (0, 5) and parse_channel_range("160:", 168) == (160, 168)
    for bad in ("5", "20:10", "0:169", "a:b", "3:3"):
        with raises_user_error("--channel_range"):
            parse_channel_range(bad, 168)


def test_tensor_preprocessing_equals_pil_on_renders(inputs):
    """CLIP preprocessing on tensors (float64) gives PIL's bicubic result to float32 rounding (max diff 0 here)."""
    generator, _, s_codes, _, _ = inputs
    with paddle.no_grad():
        images = generator.synthesis_from_styles([paddle.to_tensor(s) for s in s_codes])
    ours = clip_preprocess(images).numpy()
    reference = np.stack([pil_preprocess(image) for image in to_uint8(images)])
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6)


# --- the engine against plain computations -----------------------------------------------------------------------


def reference_rows(inputs, rows):
    """Independent reference: eager full renders one by one, uint8 + PIL preprocessing, CLIP, channel_direction."""
    generator, encoder, s_codes, mean, std = inputs
    result = []
    for layer, offset in layer_row_offsets(generator.channels_lst, generator.style_layers):
        for channel in range(max(rows[0] - offset, 0), min(rows[1] - offset, generator.channels_lst[layer])):
            embeddings = {}
            for sign in (-1, 1):
                pixels = []
                for image in range(NUM_IMAGES):
                    styles = [s[image:image + 1].copy() for s in s_codes]
                    styles[layer][0, channel] = mean[layer][channel] + sign * np.float32(5.0) * std[layer][channel]
                    with paddle.no_grad():
                        rendered = generator.synthesis_from_styles([paddle.to_tensor(s) for s in styles])
                    pixels.append(pil_preprocess(to_uint8(rendered)[0]))
                with paddle.no_grad():
                    embeddings[sign] = encoder.model.encode_image(paddle.to_tensor(np.stack(pixels))).numpy()
            result.append(channel_direction(embeddings[1], embeddings[-1]))
    return np.stack(result)


def test_rows_match_an_independent_reference_across_a_layer_boundary(inputs, rows_batched):
    reference = reference_rows(inputs, ROWS)
    cosines = np.sum(rows_batched * reference, axis=1)
    assert cosines.min() >= 0.999, cosines
    np.testing.assert_allclose(np.linalg.norm(rows_batched, axis=1), 1.0, atol=1e-6)


def test_prefix_reuse_and_batching_change_no_render(inputs):
    """Each render of a batch (shared prefix state + program of the moved layer) equals a full eager render."""
    generator, _, s_codes, mean, std = inputs
    extractor = make_extractor(inputs, render_batch=4)
    for batch in (Batch(0, (30, 31), 0), Batch(3, (4, 5), 2), Batch(9, (7,), 1)):
        images = extractor.render(batch, extractor.prefix_state(batch.layer, batch.image)).numpy()
        for j, (channel, sign) in enumerate(zip(*batch_items(batch))):
            styles = [s[batch.image:batch.image + 1].copy() for s in s_codes]
            styles[batch.layer][0, channel] = mean[batch.layer][channel] + sign * 5.0 * std[batch.layer][channel]
            with paddle.no_grad():
                single = generator.synthesis_from_styles([paddle.to_tensor(s) for s in styles]).numpy()
            assert np.abs(images[j] - single[0]).max() < 1e-4


def test_batch_size_and_batch_mates_barely_change_rows(inputs, rows_batched):
    """One pair per batch vs 4 renders per batch: < 1e-4. Other channels in the batch: identical rows here."""
    unbatched = extract_rows(inputs, ROWS, batch_size=2)
    assert np.abs(unbatched - rows_batched).max() < 1e-4
    # ROWS = 29:35 cuts the groups {28, 29} and {34, 35}: rows 29 and 34 now share their batch with padding.
    inner = extract_rows(inputs, (30, 34))
    np.testing.assert_array_equal(inner, rows_batched[1:5])
    shifted = extract_rows(inputs, (29, 30))
    assert np.abs(shifted[0] - rows_batched[0]).max() <= 1e-6


# --- bf16 renders: only where a sample of directions agrees with fp32 ------------------------------------------------


def test_worker_directions_are_the_rows_of_a_run(inputs, rows_batched):
    generator, encoder, s_codes, mean, std = inputs
    worker = DirectionWorker(generator, encoder.image_tower, s_codes, mean, std, 5.0, BATCH)
    np.testing.assert_array_equal(worker.directions(ROWS), rows_batched)


def test_the_bf16_sample_spans_the_style_layers_one_group_each():
    channels_lst, style_layers = LAYOUT
    ranges = sample_rows(channels_lst, style_layers, 2)
    offsets = layer_row_offsets(channels_lst, style_layers)
    assert len(ranges) == 4 and ranges[0] == (0, 2) and ranges[-1] == (offsets[-1][1], offsets[-1][1] + 2)
    starts = [offset for _, offset in offsets]
    assert all(start in starts for start, _ in ranges) and len(set(ranges)) == 4


class NoisyBf16Worker(DirectionWorker):
    """Stands in for bf16 renders on a CPU without bf16: fp32 renders plus seeded noise of ``NOISE`` std."""
    NOISE = 0.0

    def __init__(self, *args, bf16=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.simulated, self.rng = bf16, np.random.RandomState(0)

    def render(self, batch, state):
        images = super().render(batch, state)
        if not self.simulated:
            return images
        return images + paddle.to_tensor(self.rng.normal(0, self.NOISE, images.shape).astype("float32"))


REAL_BF16_CPU = engines.cpu_has_bf16()


@pytest.fixture
def bf16_cpu(monkeypatch, tmp_path):
    """A CPU that lists bf16, ``--precision auto``, an empty $PPGAN_HOME (returned); a sample of 2 S codes; renders
    by the CPU's programs (bf16 is theirs), also in a run with ``PPGAN_SYNTHESIS=eager``."""
    monkeypatch.delenv("PPGAN_SYNTHESIS", raising=False)
    monkeypatch.setattr(engines, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(precision, "SAMPLE_IMAGES", 2)
    monkeypatch.setenv("PPGAN_PRECISION", "auto")
    monkeypatch.setenv("PPGAN_HOME", str(tmp_path))
    monkeypatch.setattr(engines, "_said", set())
    return tmp_path


def decide(inputs, fingerprint="inputs"):
    generator, encoder, s_codes, mean, std = inputs
    return extraction_bf16(generator, encoder.image_tower, s_codes, mean, std, 5.0, BATCH, None, fingerprint)


def sample_cosines(inputs, noise):
    """Cosines of the check's sample computed here: fp32 rows against rows of renders with ``noise`` added."""
    generator, encoder, s_codes, mean, std = inputs
    images = [s[:precision.SAMPLE_IMAGES] for s in s_codes]
    NoisyBf16Worker.NOISE = noise
    ranges = sample_rows(generator.channels_lst, generator.style_layers, BATCH // 2)
    rows = {}
    for bf16 in (False, True):
        worker = NoisyBf16Worker(generator, encoder.image_tower, images, mean, std, 5.0, BATCH, bf16=bf16)
        rows[bf16] = np.concatenate([worker.directions(r) for r in ranges])
    return np.sum(rows[False] * rows[True], axis=1)


@pytest.mark.parametrize("noise, chosen", [(0.002, True), (0.3, False)])
def test_bf16_extraction_is_chosen_only_when_its_directions_agree(inputs, bf16_cpu, monkeypatch, capsys, noise,
                                                                  chosen):
    expected = sample_cosines(inputs, noise)
    assert (expected.min() >= precision.BF16_MIN_COSINE) == chosen, expected  # the noise levels do what they say
    monkeypatch.setattr(precision, "DirectionWorker", NoisyBf16Worker)
    assert decide(inputs) is chosen
    said = capsys.readouterr().err
    assert ("extraction renders in bf16" if chosen else "extraction stays fp32") in said
    with open(bf16_cpu / "engines.json") as f:
        (entry,) = json.load(f).values()
    assert entry["bf16"] is chosen and abs(entry["cosine"] - expected.min()) < 1e-6
    monkeypatch.setattr(NoisyBf16Worker, "directions", lambda *a: pytest.fail("checked twice"))
    assert decide(inputs) is chosen  # remembered for these inputs


def test_bf16_check_runs_the_real_bf16_programs(inputs, bf16_cpu, capsys):
    """The check through the real bf16 programs. On a CPU without bf16 Paddle's bf16 pass computes in fp32: the
    directions are the same and bf16 is chosen; on one with bf16 the verdict follows the measured cosine."""
    chosen = decide(inputs)
    assert "checking bf16 extraction against fp32 on 8 channels x 2 images" in capsys.readouterr().err
    with open(bf16_cpu / "engines.json") as f:
        (entry,) = json.load(f).values()
    assert chosen is (entry["cosine"] >= precision.BF16_MIN_COSINE)
    if not REAL_BF16_CPU:
        assert chosen and entry["cosine"] > 1 - 1e-6


def test_bf16_extraction_is_not_checked_when_the_answer_is_known(inputs, bf16_cpu, monkeypatch):
    monkeypatch.setattr(DirectionWorker, "directions", lambda *a: pytest.fail("no check expected"))
    monkeypatch.setenv("PPGAN_PRECISION", "fp32")
    assert decide(inputs) is False
    monkeypatch.setenv("PPGAN_PRECISION", "bf16")
    assert decide(inputs) is True
    monkeypatch.setenv("PPGAN_PRECISION", "auto")
    monkeypatch.setenv("PPGAN_SYNTHESIS", "eager")  # as on a GPU: no bf16 programs
    assert decide(inputs) is False
    monkeypatch.delenv("PPGAN_SYNTHESIS")
    monkeypatch.setattr(engines, "cpu_has_bf16", lambda: False)
    assert decide(inputs) is False
    assert not os.path.exists(bf16_cpu / "engines.json")


def test_a_bf16_job_is_another_job(inputs):
    generator, encoder, s_codes, mean, std = inputs
    fp32, bf16 = (DirectionExtractor(generator, encoder.image_tower, s_codes, mean, std, 5.0, BATCH, eager=False,
                                     bf16=flag) for flag in (False, True))
    assert fp32.backend() != bf16.backend() and "bf16" in bf16.backend()


# --- command line: resume, ranks, merge, bad inputs ----------------------------------------------------------------


def test_kill_and_resume_gives_the_identical_file(files, uninterrupted, tmp_path):
    output = tmp_path / "resumed.pdparams"
    checkpoint = f"{output}.ckpt.npz"
    process = subprocess.Popen([sys.executable, PREDICTOR, *cli_args(files, output, "--checkpoint_every", "1")],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not os.path.exists(checkpoint) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert os.path.exists(checkpoint) and not output.exists(), "the run was not killed between two checkpoints"
    with np.load(checkpoint) as data:
        job = json.loads(str(data["job"]))
        assert job["rows"] == [30, 34] and job["num_images"] == 2 and job["alpha"] == 5.0 and job["inputs"]
    result = run_extract(cli_args(files, output, "--checkpoint_every", "1"))
    assert result.returncode == 0, result.stderr
    assert "resuming from" in result.stderr
    assert output.read_bytes() == uninterrupted
    assert not os.path.exists(checkpoint)


def test_checkpoint_of_another_job_is_refused(files, tmp_path):
    output = tmp_path / "other.pdparams"
    _save_npz(f"{output}.ckpt.npz", job=json.dumps({"inputs": "x"}), rank=0, next_batch=1, sums=np.zeros((4, 512)))
    result = run_extract(cli_args(files, output))
    assert result.returncode == 2 and "belongs to another job" in error_line(result.stderr)
    assert not output.exists()


def test_two_process_launch_gives_the_single_process_file(files, uninterrupted, tmp_path):
    output = tmp_path / "launched.pdparams"
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2",
               "--log_dir", str(tmp_path / "log"), PREDICTOR, *cli_args(files, output)]
    # One thread per rank: the two ranks share this machine's cores. The CPU programs give the same bits on any
    # thread count; eager CPU kernels do not, so with PPGAN_SYNTHESIS=eager the ranks get the reference's threads.
    threads = compiled.cpu_threads() if compiled.use_eager_programs() else 1
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    logs = "".join(open(tmp_path / "log" / f"workerlog.{rank}").read() for rank in range(2))
    assert result.returncode == 0, logs[-3000:]
    assert output.read_bytes() == uninterrupted
    assert not list(tmp_path.glob("launched.pdparams.*"))


def test_merge_joins_parts_and_names_missing_ones(tmp_path):
    output = str(tmp_path / "merged.npy")
    job = {"rows": [10, 16], "world": 2}
    rows = [np.array([10, 11, 14, 15]), np.array([12, 13])]
    values = [np.random.RandomState(rank).randn(len(r), 512).astype(np.float32) for rank, r in enumerate(rows)]
    _save_npz(part_path(output, 1, 2), job=json.dumps(job), rank=1, rows=rows[1], directions=values[1])
    with pytest.raises(UserError, match=r"ranks \[0\] of 2 are missing"):
        merge_parts(output)
    _save_npz(part_path(output, 0, 2), job=json.dumps(job), rank=0, rows=rows[0], directions=values[0])
    with pytest.raises(SystemExit):  # the CLI's --merge with a bad part name is a clean error, not a traceback
        run_cli(lambda argv: merge_parts(output + ".other"), [])
    from ppgan.cli import extract as extract_cli

    extract_cli.main(["--merge", "--output", output])
    merged = np.load(output)
    np.testing.assert_array_equal(merged[[0, 1, 4, 5]], values[0])
    np.testing.assert_array_equal(merged[[2, 3]], values[1])
    assert not list(tmp_path.glob("merged.npy.part*"))


def error_line(stderr):
    """The CLI's error: the last stderr line (Paddle prints warnings at import), which must be the only error."""
    lines = stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("error: ")] == lines[-1:], stderr
    return lines[-1]


def test_mismatched_inputs_fail_in_one_line_without_output(files, inputs, tmp_path, capsys):
    from ppgan.cli import extract as extract_cli

    _, _, _, mean, std = inputs
    other = StyleGANv2Generator(32, 64, 2, channels={4: 32, 8: 16, 16: 16, 32: 8})
    other_stats, other_s = collect_statistics(other, 50, 4, 50, seed=0)
    paths = {name: str(tmp_path / f"{name}.pdparams") for name in ("S", "stats", "shifted", "generator")}
    write_s_codes(paths["S"], other_s)
    write_stats(paths["stats"], other_stats.mean, other_stats.std())
    write_stats(paths["shifted"], [m + 3 * s for m, s in zip(mean, std)], std)
    paddle.save(other.state_dict(), paths["generator"])
    output = tmp_path / "out.pdparams"
    cases = [("--S_path", paths["S"], "layer 3 has 16 channels"), ("--stat_path", paths["stats"], "layer 3 has 16"),
             ("--stat_path", paths["shifted"], "do not match the statistics"),
             ("--weight_path", paths["generator"], "--channels says channels 4:32,8:32"), ("--num_images", "9", "9 are needed"),
             ("--channel_range", "160:170", "has 168 non-toRGB channels")]
    for flag, value, message in cases:
        args = cli_args(files, output)[1:]
        args[args.index(flag) + 1] = value
        with pytest.raises(SystemExit) as exit_info:
            run_cli(extract_cli.main, args)
        assert exit_info.value.code == 2 and message in error_line(capsys.readouterr().err)
        assert not list(tmp_path.glob("out.pdparams*"))
    result = run_extract(cli_args(files, output, "--S_path", paths["S"]))
    assert result.returncode == 2 and "layer 3 has 16 channels" in error_line(result.stderr)
    assert not list(tmp_path.glob("out.pdparams*"))


def test_s_codes_far_from_the_statistics_are_refused():
    rng = np.random.RandomState(0)
    s_codes = [rng.randn(10, 4).astype(np.float32) for _ in range(2)]
    mean, std = [np.zeros(4, np.float32)] * 2, [np.ones(4, np.float32)] * 2
    check_s_codes_match_stats(s_codes, mean, std, "S", "stats")
    with pytest.raises(UserError, match="do not match"):
        check_s_codes_match_stats(s_codes, [m + 2 for m in mean], std, "S", "stats")
    with pytest.raises(UserError, match="NaN"):
        check_s_codes_match_stats(s_codes, mean, [np.full(4, np.nan, np.float32)] * 2, "S", "stats")

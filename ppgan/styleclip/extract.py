"""Global direction extraction (docs/spec.md, section 4): batched, prefix-reusing, streamed, resumable, sharded.

Row r of fs3 belongs to channel c of style layer l (rows in ``style_layers``
order). For each of the first N S codes, channel c alone is set to
mean_c -/+ alpha * std_c, both images are rendered with the saved noise and
embedded by CLIP, and the pair is reduced at once:
``sums[r] += normalize(normalize(f+) - normalize(f-))``; row r is
``normalize(sums[r])`` when all N images are in (``channel_direction``).

The work plan (``plan_batches``) is a pure function of the S layout, the row
range, N, the batch size, the rank and the number of ranks. In a layer,
channels form groups of ``batch_size // 2`` aligned to the layer's first
channel; a batch is one (group, S code): the -/+ renders of each channel of the
group, padded to ``batch_size``. Groups are dealt round-robin to ranks. Batches
run layer by layer, S code by S code, so the state entering the moved layer and
the later layers' folded weights (``VariantsProgram``) are computed once per
(layer, S code) and shared by every channel of the layer. What a render is
batched with depends only on its channel, never on where a run was resumed or
on the number of ranks: resumed and sharded runs give the same bits as an
uninterrupted single-process run.
"""
import collections
import glob
import hashlib
import json
import os
import re
import sys
import time

import numpy as np
import paddle
from tqdm import tqdm

from ..models.generators.fast_synthesis import VariantsProgram
from ..utils import compiled
from ..utils.errors import UserError
from ..utils.fileio import atomic_path
from ..utils.runtime import gpu_memory_bytes
from .clip_encoder import clip_preprocess
from .directions import CLIP_DIM, l2_normalize, normalized_differences, style_channel_count

CHECKPOINT_SECONDS = 300
MERGE_POLL_SECONDS = 2.0
OUTPUT_TENSOR_NAME = "styleclip_global_directions"
PLAN_VERSION = 2  # part of a job's description: checkpoints of another plan are refused

Batch = collections.namedtuple("Batch", "layer channels image")
Batch.__doc__ = ("Renders of one batch: style ``layer``, ``channels`` (tuple of indices within the layer) "
                 "x signs (-, +), all of S code ``image``.")


def output_file_name(dataset_name):
    """PaddleGAN's name of the global direction file of ``dataset_name``."""
    return f"stylegan2-{dataset_name}-styleclip-global-directions.pdparams"


def layer_row_offsets(channels_lst, style_layers):
    """[(style layer, its first row in fs3)] in row order."""
    offsets = np.concatenate([[0], np.cumsum([channels_lst[layer] for layer in style_layers])[:-1]])
    return [(layer, int(offset)) for layer, offset in zip(style_layers, offsets)]


def plan_batches(channels_lst, style_layers, rows, num_images, batch_size, rank=0, world=1):
    """Batches of rank ``rank`` of ``world`` for fs3 rows [start, stop), in execution order (see the module doc)."""
    start, stop = rows
    group = max(1, batch_size // 2)
    plan, group_index = [], 0
    for layer, offset in layer_row_offsets(channels_lst, style_layers):
        low, high = max(start - offset, 0), min(stop - offset, channels_lst[layer])
        groups = []
        for first in range(low - low % group, high, group):
            if group_index % world == rank:
                groups.append(tuple(range(max(first, low), min(first + group, high))))
            group_index += 1
        for image in range(num_images):
            plan.extend(Batch(layer, channels, image) for channels in groups)
    return plan


def plan_rows(plan, channels_lst, style_layers):
    """Sorted fs3 rows (int64) that the batches of ``plan`` compute."""
    offsets = dict(layer_row_offsets(channels_lst, style_layers))
    return np.unique(np.array([offsets[b.layer] + c for b in plan for c in b.channels], np.int64))


def batch_items(batch):
    """(channel [n], sign [n]) of a batch's renders, ordered channel, sign (-1, +1)."""
    channel, sign = np.meshgrid(batch.channels, [-1.0, 1.0], indexing="ij")
    return channel.ravel(), sign.ravel().astype(np.float32)


def pad_to(index, size):
    """Repeat the last entry of ``index`` [n] up to length ``size`` (constant batch shapes)."""
    return np.concatenate([index, np.repeat(index[-1:], size - len(index))])


def moved_styles(codes, channels, signs, mean, std, alpha):
    """Layer-l styles [n, C] with channel ``channels[j]`` of row j set to mean + signs[j] * alpha * std."""
    moved = np.array(codes, np.float32)
    moved[np.arange(len(moved)), channels] = mean[channels] + signs * np.float32(alpha) * std[channels]
    return moved


def accumulate_differences(sums, positions, emb_minus, emb_plus):
    """sums[positions[j]] += unit difference of pair j: float64 sums [R, 512], embeddings [n, 512]."""
    np.add.at(sums, positions, normalized_differences(emb_plus, emb_minus))


def finish_directions(sums):
    """Per-channel sums of unit differences [R, 512] -> unit directions float32 [R, 512]."""
    return l2_normalize(sums).astype(np.float32)


def check_s_codes_match_stats(s_codes, mean, std, s_path, stat_path):
    """UserError unless the S samples look drawn from the statistics (median |mean_S - mean| / std < 1)."""
    for name, arrays in (("S samples", s_codes), ("mean", mean), ("std", std)):
        if not all(np.isfinite(a).all() for a in arrays):
            raise UserError(f"the {name} of {s_path if name == 'S samples' else stat_path} contain NaN or inf; "
                            "recompute them with styleclip_getf.py")
    sample_mean = np.concatenate([s.mean(axis=0) for s in s_codes])
    flat_mean, flat_std = np.concatenate(mean), np.concatenate(std)
    distance = float(np.median(np.abs(sample_mean - flat_mean) / np.maximum(flat_std, 1e-12)))
    if distance >= 1.0:
        raise UserError(f"the S samples of {s_path} do not match the statistics of {stat_path} (their means differ "
                        f"by {distance:.1f} std in the median channel); pass files made for the same generator")


def inputs_fingerprint(generator, image_tower, s_codes, mean, std):
    """md5 of everything the rows depend on: generator and CLIP image tower weights, S samples, statistics."""
    digest = hashlib.md5()
    for name, value in generator.state_dict().items():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(value.numpy()).tobytes())
    digest.update(image_tower.weights_digest.encode())
    for array in list(s_codes) + list(mean) + list(std):
        digest.update(np.ascontiguousarray(array, np.float32).tobytes())
    return digest.hexdigest()


def checkpoint_path(output, rank=0, world=1):
    """The checkpoint next to ``output`` of rank ``rank`` of ``world``."""
    return f"{output}.ckpt.npz" if world == 1 else f"{output}.rank{rank}-of-{world}.ckpt.npz"


def part_path(output, rank, world):
    """The finished rows of rank ``rank`` of ``world``, next to ``output``."""
    return f"{output}.part{rank}-of-{world}.npz"


def _save_npz(path, **arrays):
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _load_npz(path, job, rank, what):
    """Arrays of a checkpoint or part file, after checking that it was written by this job and rank."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        found = json.loads(str(arrays["job"])), int(arrays["rank"])
    except Exception as exc:
        raise UserError(f"{what} {path} is unreadable ({type(exc).__name__}); delete it to start over") from exc
    if found != (job, rank):
        raise UserError(f"{what} {path} belongs to another job (inputs, channel range, num_images, alpha, "
                        f"batch size, backend, ranks or the version of this tool differ); rerun with the flags "
                        "it was made with, or delete it to start over")
    return arrays


def save_directions(path, matrix):
    """Write fs3 [rows, 512] atomically: ``.npy`` as numpy, else PaddleGAN's bare float32 tensor."""
    with atomic_path(path) as tmp:
        if path.endswith(".npy"):
            np.save(tmp, matrix.astype(np.float32))
        else:
            tensor = paddle.to_tensor(matrix.astype(np.float32), place=paddle.CPUPlace())
            tensor.name = OUTPUT_TENSOR_NAME
            paddle.save(tensor, tmp)


def find_parts(output):
    """{world: {rank: path}} of the part files next to ``output``."""
    found = collections.defaultdict(dict)
    pattern = re.compile(re.escape(os.path.basename(output)) + r"\.part(\d+)-of-(\d+)\.npz$")
    for path in glob.glob(glob.escape(output) + ".part*-of-*.npz"):
        match = pattern.search(path)
        if match:
            found[int(match.group(2))][int(match.group(1))] = path
    return found


def merge_parts(output, job=None):
    """Join the part files of every rank into ``output`` (and delete them); returns the number of rows.

    ``job`` (optional): the job description the parts must carry (default: that of rank 0's part).
    """
    found = find_parts(output)
    if len(found) != 1:
        raise UserError(f"expected the part files of one run next to {output}, found "
                        f"{'none' if not found else 'runs with ' + ', '.join(map(str, sorted(found))) + ' ranks'}; "
                        "copy all parts of one run there (or delete stale ones) and merge again")
    world, parts = found.popitem()
    missing = sorted(set(range(world)) - set(parts))
    if missing:
        raise UserError(f"parts of ranks {missing} of {world} are missing next to {output}; "
                        "wait for them to finish or copy them there, then merge again")
    if job is None:
        with np.load(parts[0], allow_pickle=False) as data:
            job = json.loads(str(data["job"]))
    start, stop = job["rows"]
    matrix = np.full((stop - start, CLIP_DIM), np.nan, np.float32)
    for rank, path in sorted(parts.items()):
        arrays = _load_npz(path, job, rank, "part")
        matrix[arrays["rows"] - start] = arrays["directions"]
    if np.isnan(matrix).any():
        raise UserError(f"the parts next to {output} do not cover rows {start}:{stop}; delete them and rerun")
    save_directions(output, matrix)
    for path in parts.values():
        os.remove(path)
    return stop - start


CPU_BATCH_SIZE = 4  # the fastest measured on 2 CPU cores
GPU_BATCH_SIZE = 16
RENDER_BYTES_1024 = 1.25 * 2 ** 30  # activations of one 1024 px render (Paddle Inference keeps them all)
GPU_RESERVED_BYTES = 2 * 2 ** 30  # generator and CLIP weights, the allocator's own


def default_batch_size(gpu_memory=None):
    """Renders per batch: ``CPU_BATCH_SIZE`` on a CPU (``gpu_memory`` None), ``GPU_BATCH_SIZE`` on a GPU."""
    return CPU_BATCH_SIZE if gpu_memory is None else GPU_BATCH_SIZE


def default_render_batch(size, batch_size, gpu_memory=None):
    """Renders per synthesis call: the largest divisor of ``batch_size`` whose activations fit.

    On a CPU (``gpu_memory`` None) up to (1024 / size)^2: a Paddle Inference program keeps
    every activation of its last call, about 1.25 GB per 1024 px image, so 1024 px renders
    go one at a time. On a GPU with ``gpu_memory`` bytes, as many renders as fit in that
    memory less ``GPU_RESERVED_BYTES``, at 1.25 GB * (size / 1024)^2 each.
    """
    if gpu_memory is None:
        cap = (1024 // size) ** 2
    else:
        cap = int((gpu_memory - GPU_RESERVED_BYTES) // (RENDER_BYTES_1024 * (size / 1024) ** 2))
    cap = max(1, cap)
    return max(d for d in range(1, min(cap, batch_size) + 1) if batch_size % d == 0)


class DirectionExtractor:
    """Computes fs3 rows for a generator, a CLIP encoder, N S codes and their statistics.

    Args:
        generator: StyleGANv2Generator in eval mode.
        image_encoder: CLIP's ``ImageTower`` (``ClipEncoder(...).image_tower``): CLIP inputs [B,3,224,224] -> [B,512].
        s_codes: list of float32 [N, C_l], one per style layer (the first N samples).
        mean, std: lists of float32 [C_l] (every style layer).
        alpha: how far each channel moves, in std units.
        batch_size: renders per batch, embedded by CLIP at once (at least 2; padded when a group has fewer;
            default ``default_batch_size`` of the current device).
        render_batch: renders per synthesis call, a divisor of batch_size (default ``default_render_batch``
            of the current device).
        eager: force the eager synthesis (default: Paddle Inference on CPU, eager on GPU).
    """

    def __init__(self, generator, image_encoder, s_codes, mean, std, alpha=5.0, batch_size=None, render_batch=None,
                 eager=None):
        gpu_memory = gpu_memory_bytes()
        batch_size = batch_size or default_batch_size(gpu_memory)
        if batch_size < 2:
            raise UserError(f"--batch_size {batch_size} is too small: a batch holds at least one -/+ pair")
        render_batch = render_batch or default_render_batch(generator.size, batch_size, gpu_memory)
        if batch_size % render_batch:
            raise UserError(f"--render_batch {render_batch} does not divide --batch_size {batch_size}")
        self.generator, self.image_encoder = generator, image_encoder
        self.s_codes = [np.asarray(s, np.float32) for s in s_codes]
        self.mean = [np.asarray(m, np.float32) for m in mean]
        self.std = [np.asarray(s, np.float32) for s in std]
        self.alpha, self.batch_size, self.render_batch, self.eager = float(alpha), batch_size, render_batch, eager
        self.num_images = len(self.s_codes[0])
        self.total_rows = style_channel_count(generator.channels_lst, generator.style_layers)
        self._program = (None, None)

    def plan(self, rows, rank=0, world=1):
        """``plan_batches`` for this extractor's layout, N and batch size."""
        g = self.generator
        return plan_batches(g.channels_lst, g.style_layers, rows, self.num_images, self.batch_size, rank, world)

    def program(self, layer, image):
        """The ``VariantsProgram`` of S code ``image`` moved in ``layer`` (one kept at a time: batches run in order).

        Its weights are folded on one eager thread, for the reason of ``prefix_state``.
        """
        if self._program[0] != (layer, image):
            self._program = (None, None)
            styles = [paddle.to_tensor(s[image:image + 1]) for s in self.s_codes]
            with compiled.eager_threads(1):
                self._program = ((layer, image), VariantsProgram(self.generator, layer, styles, eager=self.eager))
        return self._program[1]

    def backend(self):
        """What the rows' last bits depend on besides the inputs and batch sizes: synthesis and CLIP tower
        backends, device type."""
        synthesis_eager = compiled.use_eager_programs() if self.eager is None else self.eager
        names = ["eager" if eager else "onednn" for eager in (synthesis_eager, self.image_encoder.eager)]
        return "-".join(names + [paddle.get_device().split(":")[0]])

    def _chunks(self, count):
        return [slice(lo, min(lo + self.render_batch, count)) for lo in range(0, count, self.render_batch)]

    def prefix_state(self, layer, image):
        """State (x, skip) entering ``layer`` for S code ``image``, batch 1; (None, None) for layer 0."""
        if layer == 0:
            return None, None
        codes = [paddle.to_tensor(s[image:image + 1]) for s in self.s_codes[:layer]]
        # The state's last bits depend on eager Paddle's thread count: one thread, whatever the process
        # has (ranks of a launch get fewer), so every run and rank computes the same rows.
        with compiled.eager_threads(1), paddle.no_grad():
            return self.generator.synthesis_partial(codes, 0, layer)

    def render(self, batch, state):
        """Images [batch_size, 3, H, W] of the batch's renders (padded), ``render_batch`` per synthesis call."""
        channel, sign = (pad_to(a, self.batch_size) for a in batch_items(batch))
        layer, program = batch.layer, self.program(batch.layer, batch.image)
        codes = np.repeat(self.s_codes[layer][batch.image:batch.image + 1], self.batch_size, axis=0)
        moved = moved_styles(codes, channel, sign, self.mean[layer], self.std[layer], self.alpha)
        images = []
        for part in self._chunks(self.batch_size):
            size = part.stop - part.start
            x, skip = (None, None) if state[0] is None else (t.expand([size] + t.shape[1:]) for t in state)
            images.append(program(paddle.to_tensor(moved[part]), x, skip))
        return paddle.concat(images)

    def embed(self, batch, images):
        """CLIP embeddings of the batch's real renders: (emb_minus [k,512], emb_plus [k,512]), k = channels."""
        with paddle.no_grad():
            pixels = paddle.concat([clip_preprocess(images[part]) for part in self._chunks(len(images))])
            embeddings = self.image_encoder(pixels).numpy()
        pairs = len(batch.channels)
        return embeddings[0:2 * pairs:2], embeddings[1:2 * pairs:2]

    def run(self, plan, sums, positions, start=0, on_batch=None):
        """Accumulate batches plan[start:] into ``sums`` [R, 512] float64.

        ``positions`` maps an fs3 row to its index in ``sums``; ``on_batch(done)``
        is called after each batch with the number of batches done.
        """
        offsets = dict(layer_row_offsets(self.generator.channels_lst, self.generator.style_layers))
        state_key, state = None, None
        for done, batch in enumerate(plan[start:], start + 1):
            if state_key != (batch.layer, batch.image):
                state = None  # free the previous state first
                state, state_key = self.prefix_state(batch.layer, batch.image), (batch.layer, batch.image)
            emb_minus, emb_plus = self.embed(batch, self.render(batch, state))
            rows = np.asarray(batch.channels) + offsets[batch.layer]
            accumulate_differences(sums, positions[rows], emb_minus, emb_plus)
            if on_batch is not None:
                on_batch(done)

    def extract(self, rows, output, fingerprint, rank=0, world=1, checkpoint_every=None, merge_wait=3600.0):
        """Compute this rank's rows of [start, stop) with checkpoints; write ``output`` (or this rank's part).

        ``fingerprint``: ``inputs_fingerprint`` of the inputs. ``checkpoint_every``:
        checkpoint after that many channels of work (default: every
        CHECKPOINT_SECONDS). With several ranks, rank 0 waits up to ``merge_wait``
        seconds for the other parts and merges them. Returns the path written.
        """
        job = dict(plan=PLAN_VERSION, inputs=fingerprint, rows=list(rows), num_images=self.num_images,
                   alpha=self.alpha, batch_size=self.batch_size, render_batch=self.render_batch,
                   backend=self.backend(), world=world)
        part = part_path(output, rank, world)
        if world > 1 and os.path.exists(part):
            _load_npz(part, job, rank, "part")
            print(f"rank {rank}: part {part} is already complete", file=sys.stderr)
        else:
            self._extract_part(job, output, rank, world, checkpoint_every)
        if world == 1:
            return output
        if rank != 0:
            return part
        return output if self._wait_and_merge(output, job, merge_wait) else part

    def _extract_part(self, job, output, rank, world, checkpoint_every):
        plan = self.plan(job["rows"], rank, world)
        rows = plan_rows(plan, self.generator.channels_lst, self.generator.style_layers)
        positions = np.full(self.total_rows, -1, np.int64)
        positions[rows] = np.arange(len(rows))
        ckpt = checkpoint_path(output, rank, world)
        sums, start = np.zeros((len(rows), CLIP_DIM), np.float64), 0
        if os.path.exists(ckpt):
            arrays = _load_npz(ckpt, job, rank, "checkpoint")
            sums, start = arrays["sums"], int(arrays["next_batch"])
            print(f"resuming from {ckpt}: {start} of {len(plan)} batches done", file=sys.stderr)
        work = [len(b.channels) / self.num_images for b in plan]
        last = dict(time=time.monotonic(), work=sum(work[:start]))
        desc = "directions" if world == 1 else f"directions rank {rank}/{world}"
        with tqdm(total=len(rows), initial=last["work"], desc=desc, unit="ch", file=sys.stderr,
                  bar_format="{l_bar}{bar}| {n:.1f}/{total} ch [{elapsed}<{remaining}, {rate_fmt}]") as bar:
            def on_batch(done):
                bar.update(work[done - 1])
                since = bar.n - last["work"]
                due = (since >= checkpoint_every if checkpoint_every
                       else time.monotonic() - last["time"] >= CHECKPOINT_SECONDS)
                if due and done < len(plan):
                    _save_npz(ckpt, job=json.dumps(job), rank=rank, next_batch=done, sums=sums)
                    last.update(time=time.monotonic(), work=bar.n)

            self.run(plan, sums, positions, start, on_batch)
        if world == 1:
            save_directions(output, finish_directions(sums))
        else:
            _save_npz(part_path(output, rank, world), job=json.dumps(job), rank=rank, rows=rows,
                      directions=finish_directions(sums))
        if os.path.exists(ckpt):
            os.remove(ckpt)

    @staticmethod
    def _wait_and_merge(output, job, merge_wait):
        """Rank 0: merge once every part exists; False (with a hint) when ``merge_wait`` seconds pass first."""
        world = job["world"]
        deadline = time.monotonic() + merge_wait
        while set(find_parts(output).get(world, {})) != set(range(world)):
            if time.monotonic() >= deadline:
                print(f"rank 0: not all {world} parts are next to {output} yet; when they are, run the same "
                      "command with --merge", file=sys.stderr)
                return False
            time.sleep(MERGE_POLL_SECONDS)
        merge_parts(output, job)
        return True

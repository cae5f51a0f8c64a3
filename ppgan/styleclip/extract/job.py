"""An extraction as a job on disk: its description, resume files, rank parts, merge and the output file.

A job is described by everything its rows' bits depend on (``inputs_fingerprint`` of
the inputs, row range, N, alpha, batch sizes, backend, ranks, ``PLAN_VERSION``); a
resume file (``resume_path``: ``{output}.ckpt.npz``, ``{output}.rank{r}-of-{n}.ckpt.npz``
with n ranks) or rank part (``part_path``: ``{output}.part{r}-of-{n}.npz``) of another
job is refused. ``DirectionExtractor``
runs a ``DirectionWorker`` as such a job: it saves the sums to the resume file as it
goes, resumes from it, writes the output (``save_directions``) or this rank's part,
and on rank 0 merges the parts (``merge_parts``).
"""
import collections
import contextlib
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

from ...utils.errors import UserError
from ...utils.fileio import atomic_path
from ...utils.locks import hold_lock, lock_owner, owner_running
from ..directions import CLIP_DIM
from .plan import PLAN_VERSION, plan_rows
from .worker import DirectionWorker, finish_directions

RESUME_SAVE_SECONDS = 300
MERGE_POLL_SECONDS = 2.0
OUTPUT_TENSOR_NAME = "styleclip_global_directions"


def output_file_name(dataset_name):
    """PaddleGAN's name of the global direction file of ``dataset_name``."""
    return f"stylegan2-{dataset_name}-styleclip-global-directions.pdparams"


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


def resume_path(output, rank=0, world=1):
    """The resume file next to ``output`` of rank ``rank`` of ``world`` (the sums so far)."""
    return f"{output}.ckpt.npz" if world == 1 else f"{output}.rank{rank}-of-{world}.ckpt.npz"


def part_path(output, rank, world):
    """The finished rows of rank ``rank`` of ``world``, next to ``output``."""
    return f"{output}.part{rank}-of-{world}.npz"


def lock_path(output, rank=0, world=1):
    """The lock file next to ``output`` of rank ``rank`` of ``world`` (``{output}.lock`` for one process)."""
    return f"{output}.lock" if world == 1 else f"{output}.rank{rank}-of-{world}.lock"


def _running_locks(output):
    """{path: (rank, world, owner)} of the lock files next to ``output`` whose process is running."""
    pattern = re.compile(re.escape(os.path.basename(output)) + r"(?:\.rank(\d+)-of-(\d+))?\.lock$")
    found = {}
    for path in glob.glob(glob.escape(output) + ".*lock"):
        match = pattern.search(path)
        owner = lock_owner(path) if match else None
        if owner is not None and owner_running(path, owner):
            found[path] = (int(match.group(1) or 0), int(match.group(2) or 1), owner)
    return found


def _locked_error(output, path, owner):
    who = f"process {owner['pid']} on {owner.get('host')}" if owner else "another process"
    since = f" since {owner['since']}" if owner and owner.get("since") else ""
    return UserError(f"another extraction is writing {output}: {who}{since} holds {path}; wait for it to end or "
                     "stop it (a lock whose process has ended is taken over), or pass another {output}")


@contextlib.contextmanager
def output_lock(output, rank=0, world=1):
    """Hold the lock of rank ``rank`` of ``world`` on ``output`` for the block (``lock_path``).

    Raises UserError, naming the process, while another run works on ``output``: the same
    rank of another run, or any rank of a run with another number of ranks (a single process
    counts as one rank of one, ``--merge`` too). The other ranks of the same launch each hold
    their own lock and run side by side. A lock whose process has ended does not block.
    """
    path = lock_path(output, rank, world)
    with hold_lock(path, lambda owner: _locked_error(output, path, owner)):
        for other, (_, other_world, owner) in _running_locks(output).items():
            if other != path and other_world != world:
                raise _locked_error(output, other, owner)
        yield


def _save_npz(path, **arrays):
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _load_npz(path, job, rank, what):
    """Arrays of a resume or part file, after checking that it was written by this job and rank."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        found = json.loads(str(arrays["job"])), int(arrays["rank"])
    except Exception as exc:
        raise UserError(f"{what} {path} is unreadable ({type(exc).__name__}); delete it to start over") from exc
    if found != (job, rank):
        raise UserError(f"{what} {path} belongs to another job (inputs, channel range, num_images, alpha, "
                        f"batch size, backend or precision, ranks or the version of this tool differ); rerun with the flags "
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


class DirectionExtractor(DirectionWorker):
    """A ``DirectionWorker`` (same arguments) that computes fs3 rows as a resumable, sharded job (``extract``)."""

    def extract(self, rows, output, fingerprint, rank=0, world=1, resume_save_every=None, merge_wait=3600.0):
        """Compute this rank's rows of [start, stop) with a resume file; write ``output`` (or this rank's part).

        ``fingerprint``: ``inputs_fingerprint`` of the inputs. ``resume_save_every``:
        save the resume file after that many channels of work (default: every
        RESUME_SAVE_SECONDS). With several ranks, rank 0 waits up to ``merge_wait``
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
            self._extract_part(job, output, rank, world, resume_save_every)
        if world == 1:
            return output
        if rank != 0:
            return part
        return output if self._wait_and_merge(output, job, merge_wait) else part

    def _extract_part(self, job, output, rank, world, resume_save_every):
        plan = self.plan(job["rows"], rank, world)
        rows = plan_rows(plan, self.generator.channels_lst, self.generator.style_layers)
        positions = np.full(self.total_rows, -1, np.int64)
        positions[rows] = np.arange(len(rows))
        resume = resume_path(output, rank, world)
        sums, start = np.zeros((len(rows), CLIP_DIM), np.float64), 0
        if os.path.exists(resume):
            arrays = _load_npz(resume, job, rank, "resume file")
            sums, start = arrays["sums"], int(arrays["next_batch"])
            print(f"resuming from {resume}: {start} of {len(plan)} batches done", file=sys.stderr)
        work = [len(b.channels) / self.num_images for b in plan]
        last = dict(time=time.monotonic(), work=sum(work[:start]))
        desc = "directions" if world == 1 else f"directions rank {rank}/{world}"
        with tqdm(total=len(rows), initial=last["work"], desc=desc, unit="ch", file=sys.stderr,
                  bar_format="{l_bar}{bar}| {n:.1f}/{total} ch [{elapsed}<{remaining}, {rate_fmt}]") as bar:
            def on_batch(done):
                bar.update(work[done - 1])
                since = bar.n - last["work"]
                due = (since >= resume_save_every if resume_save_every
                       else time.monotonic() - last["time"] >= RESUME_SAVE_SECONDS)
                if due and done < len(plan):
                    _save_npz(resume, job=json.dumps(job), rank=rank, next_batch=done, sums=sums)
                    last.update(time=time.monotonic(), work=bar.n)

            self.run(plan, sums, positions, start, on_batch)
        if world == 1:
            save_directions(output, finish_directions(sums))
        else:
            _save_npz(part_path(output, rank, world), job=json.dumps(job), rank=rank, rows=rows,
                      directions=finish_directions(sums))
        if os.path.exists(resume):
            os.remove(resume)

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

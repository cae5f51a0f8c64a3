"""The work plan of an extraction: which renders go in which batch, in which order, on which rank.

The plan (``plan_batches``) is a pure function of the S layout, the row range, N, the
batch size, the rank and the number of ranks. Row r of fs3 belongs to channel c of
style layer l (rows in ``style_layers`` order, ``layer_row_offsets``). In a layer,
channels form groups of ``batch_size // 2`` aligned to the layer's first channel; a
batch (``Batch``) is one (group, S code): the -/+ renders of each channel of the
group, padded to ``batch_size`` (``batch_items``, ``pad_to``). Groups are dealt
round-robin to ranks. Batches run layer by layer, S code by S code. What a render is
batched with depends only on its channel, never on where a run was resumed or on the
number of ranks. ``default_batch_size`` and ``default_render_batch`` size the batches
for the device.
"""
import collections

import numpy as np

PLAN_VERSION = 2  # part of a job's description: resume files and parts of another plan are refused

Batch = collections.namedtuple("Batch", "layer channels image")
Batch.__doc__ = ("Renders of one batch: style ``layer``, ``channels`` (tuple of indices within the layer) "
                 "x signs (-, +), all of S code ``image``.")


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

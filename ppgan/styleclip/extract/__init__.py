"""Global direction extraction (docs/spec.md, section 4): batched, prefix-reusing, streamed, resumable, sharded.

Row r of fs3 belongs to channel c of style layer l (rows in ``style_layers``
order). For each of the first N S codes, channel c alone is set to
mean_c -/+ alpha * std_c, both images are rendered with the saved noise and
embedded by CLIP, and the pair is reduced at once:
``sums[r] += normalize(normalize(f+) - normalize(f-))``; row r is
``normalize(sums[r])`` when all N images are in (``channel_direction``).

- ``plan``: the work plan (``plan_batches``), a pure function of the S layout, the row
  range, N, the batch size, the rank and the number of ranks. In a layer, channels form
  groups of ``batch_size // 2`` aligned to the layer's first channel; a batch is one
  (group, S code): the -/+ renders of each channel of the group, padded to
  ``batch_size``. Groups are dealt round-robin to ranks. Also the default batch sizes
  per device.
- ``worker``: the computation (``DirectionWorker``). Batches run layer by layer, S code
  by S code, so the state entering the moved layer and the later layers' folded weights
  (``VariantsProgram``) are computed once per (layer, S code) and shared by every
  channel of the layer.
- ``precision``: whether renders run in bf16 (``extraction_bf16``): on a CPU with bf16, only
  where a sample of directions computed both ways agrees (cosine at least 0.999).
- ``job``: the job on disk (``DirectionExtractor``): its description, resume files,
  rank parts, their merge, the output file and the lock of a running job (``output_lock``).

What a render is batched with depends only on its channel, never on where a run was
resumed or on the number of ranks: resumed and sharded runs give the same bits as an
uninterrupted single-process run. The command line is ``ppgan.cli.extract``.
"""
from .job import (DirectionExtractor, check_s_codes_match_stats, inputs_fingerprint, lock_path, merge_parts,
                  output_file_name, output_lock, part_path, resume_path, save_directions)
from .plan import Batch, default_batch_size, default_render_batch, layer_row_offsets, plan_rows
from .precision import extraction_bf16
from .worker import DirectionWorker, finish_directions, moved_styles

__all__ = ["DirectionExtractor", "check_s_codes_match_stats", "inputs_fingerprint", "lock_path", "merge_parts",
           "output_file_name", "output_lock", "part_path", "resume_path", "save_directions", "Batch",
           "default_batch_size", "default_render_batch", "layer_row_offsets", "plan_rows", "extraction_bf16",
           "DirectionWorker", "finish_directions", "moved_styles"]

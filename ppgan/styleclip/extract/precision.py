"""Whether an extraction renders in bf16: only where its directions agree with fp32 ones.

A bf16 render passes the engines' calibration at 35 dB PSNR, but a direction is the
mean of small differences between two renders, so extraction checks its own figure
(issue 25): on a CPU with bf16 (``engines.cpu_has_bf16``) and ``--precision auto``,
the first extraction of a set of inputs computes the directions of a sample of
channels (the first ``batch_size // 2`` channels of ``SAMPLE_LAYERS`` style layers
spread from the first to the last, over the first ``SAMPLE_IMAGES`` S codes) in fp32
and in bf16, and renders in bf16 when every cosine is at least ``BF16_MIN_COSINE``.
The verdict is said in one line and remembered in ``$PPGAN_HOME/engines.json`` under
the machine and the inputs' fingerprint, so a resumed run renders as it started.
``PPGAN_PRECISION`` fp32 or bf16 (``--precision``) decides without the check; CPUs without bf16 and eager
renders (GPU) use fp32.
"""
import numpy as np

from ...utils import compiled, engines
from .plan import layer_row_offsets
from .worker import DirectionWorker

BF16_MIN_COSINE = 0.999
SAMPLE_LAYERS = 4
SAMPLE_IMAGES = 4


def sample_rows(channels_lst, style_layers, group, count=SAMPLE_LAYERS):
    """Row ranges (start, stop) of the check: the first ``group`` channels of ``count`` style layers, evenly
    spread over ``style_layers`` (first and last included)."""
    offsets = layer_row_offsets(channels_lst, style_layers)
    picks = sorted(set(np.linspace(0, len(offsets) - 1, min(count, len(offsets))).round().astype(int)))
    return [(offsets[i][1], offsets[i][1] + min(group, channels_lst[offsets[i][0]])) for i in picks]


def direction_cosines(fp32_worker, bf16_worker, ranges):
    """Cosines [rows] between the two workers' directions of the rows of ``ranges``, in that order."""
    fp32 = np.concatenate([fp32_worker.directions(rows) for rows in ranges]).astype(np.float64)
    bf16 = np.concatenate([bf16_worker.directions(rows) for rows in ranges]).astype(np.float64)
    return (fp32 * bf16).sum(axis=1) / (np.linalg.norm(fp32, axis=1) * np.linalg.norm(bf16, axis=1))


def extraction_bf16(generator, image_encoder, s_codes, mean, std, alpha, batch_size, render_batch, fingerprint):
    """Whether the extraction of these inputs renders in bf16 (see the module doc); arguments as
    ``DirectionWorker``'s, ``fingerprint`` the inputs' ``inputs_fingerprint``."""
    precision = engines.requested_precision()
    if precision == "fp32" or compiled.use_eager_programs() or not engines.cpu_has_bf16():
        return False
    if precision == "bf16":
        return True
    key = engines.machine_key() + repr(["extraction bf16", fingerprint, float(alpha)])
    entry = engines.remembered(key)
    if entry is None or not isinstance(entry.get("bf16"), bool) or not isinstance(entry.get("cosine"), float):
        images = [np.asarray(s)[:SAMPLE_IMAGES] for s in s_codes]
        workers = [DirectionWorker(generator, image_encoder, images, mean, std, alpha, batch_size, render_batch,
                                   bf16=bf16) for bf16 in (False, True)]
        ranges = sample_rows(generator.channels_lst, generator.style_layers, workers[0].batch_size // 2)
        engines.say(f"checking bf16 extraction against fp32 on {sum(b - a for a, b in ranges)} channels x "
                    f"{len(images[0])} images (once for these inputs, then remembered)")
        lowest = float(direction_cosines(*workers, ranges).min())
        entry = {"bf16": bool(lowest >= BF16_MIN_COSINE), "cosine": lowest}
        engines.remember(key, entry)
    if entry["bf16"]:
        engines.say(f"extraction renders in bf16: on a sample of channels its directions' cosine to fp32 ones is "
                    f"at least {entry['cosine']:.5f}")
    else:
        engines.say(f"extraction stays fp32: on a sample of channels bf16 directions' cosine to fp32 ones falls to "
                    f"{entry['cosine']:.5f}, under {BF16_MIN_COSINE} (PPGAN_PRECISION=bf16 forces bf16)")
    return entry["bf16"]

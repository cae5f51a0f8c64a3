"""The computation of an extraction: batched renders of moved channels, CLIP per batch, per-channel sums.

For each batch of the plan (``ppgan.styleclip.extract.plan``) ``DirectionWorker``
sets channel c alone to mean_c -/+ alpha * std_c (``moved_styles``), renders both
images with the saved noise, embeds them with CLIP and reduces each pair at once:
``sums[r] += normalize(normalize(f+) - normalize(f-))`` (``accumulate_differences``);
row r is ``normalize(sums[r])`` when all N images are in (``finish_directions``).
The state entering the moved layer and the later layers' folded weights
(``VariantsProgram``) are computed once per (layer, S code) and shared by every
channel of the layer.
"""
import numpy as np
import paddle

from ...models.generators.fast_synthesis import VariantsProgram
from ...utils import compiled
from ...utils.errors import UserError
from ...utils.runtime import gpu_memory_bytes
from ..clip import clip_preprocess
from ..directions import CLIP_DIM, l2_normalize, normalized_differences, style_channel_count
from .plan import (batch_items, default_batch_size, default_render_batch, layer_row_offsets, pad_to, plan_batches,
                   plan_rows)


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


class DirectionWorker:
    """Computes per-channel sums of fs3 rows for a generator, a CLIP encoder, N S codes and their statistics.

    ``run`` accumulates the batches of a plan (``plan``) into sums; ``DirectionExtractor``
    (``ppgan.styleclip.extract.job``) runs it as a resumable, sharded job.

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
        bf16: render in bf16 where the engine and the CPU can (``ppgan.styleclip.extract.precision`` decides).
    """

    def __init__(self, generator, image_encoder, s_codes, mean, std, alpha=5.0, batch_size=None, render_batch=None,
                 eager=None, bf16=False):
        gpu_memory = gpu_memory_bytes()
        batch_size = batch_size or default_batch_size(gpu_memory)
        if batch_size < 2:
            raise UserError(f"{{batch_size}} {batch_size} is too small: a batch holds at least one -/+ pair")
        render_batch = render_batch or default_render_batch(generator.size, batch_size, gpu_memory)
        if batch_size % render_batch:
            raise UserError(f"{{render_batch}} {render_batch} does not divide {{batch_size}} {batch_size}")
        self.generator, self.image_encoder = generator, image_encoder
        self.s_codes = [np.asarray(s, np.float32) for s in s_codes]
        self.mean = [np.asarray(m, np.float32) for m in mean]
        self.std = [np.asarray(s, np.float32) for s in std]
        self.alpha, self.batch_size, self.render_batch, self.eager = float(alpha), batch_size, render_batch, eager
        self.bf16 = bool(bf16)
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
                self._program = ((layer, image), VariantsProgram(self.generator, layer, styles, eager=self.eager,
                                                                 bf16=self.bf16))
        return self._program[1]

    def backend(self):
        """What the rows' last bits depend on besides the inputs and batch sizes: synthesis and CLIP tower
        backends, device type, and bf16 renders when asked for."""
        synthesis_eager = compiled.use_eager_programs() if self.eager is None else self.eager
        names = ["eager" if eager else "onednn" for eager in (synthesis_eager, self.image_encoder.eager)]
        names += ["bf16"] if self.bf16 and not synthesis_eager else []
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

    def directions(self, rows):
        """Unit directions float32 [stop - start, 512] of fs3 rows ``rows`` = (start, stop), every S code in
        (no resume file: for short checks)."""
        plan = self.plan(rows)
        planned = plan_rows(plan, self.generator.channels_lst, self.generator.style_layers)
        positions = np.full(self.total_rows, -1, np.int64)
        positions[planned] = np.arange(len(planned))
        sums = np.zeros((len(planned), CLIP_DIM), np.float64)
        self.run(plan, sums, positions)
        return finish_directions(sums)[positions[rows[0]:rows[1]]]

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

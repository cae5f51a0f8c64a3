"""Speed of global direction extraction at the 1024 config (random generator and CLIP weights).

    python benchmark/bench_extract.py [--size 1024] [--num_images 4] [--batch_size 4] [--layers 6,21]
        [--variants baseline,+compiled,...] [--engines paddle onnxruntime openvino] [--paddlegan DIR]

Seconds per (channel, image) on the first channel(s) of an early and of a late
style layer (the extractor variants: as many as one batch holds), for PaddleGAN's
straightforward loop and for each optimisation added in turn (every variant runs
in its own process, after a warm-up, so its peak RSS is its own):

  baseline   eager synthesis_from_styles of -/+ renders in batches of 10, uint8 + PIL preprocessing, CLIP
  +compiled  full renders by the Paddle Inference (oneDNN) program, one -/+ pair per batch
  +tensor    the same with CLIP preprocessing on tensors (``clip_preprocess``) and the compiled CLIP tower
  +prefix    renders start at the moved layer from the state computed once per image (extractor, batch 2,
             every later layer modulated per render by ``SynthesisProgram``)
  +folded    the later layers' styles folded into their weights once per image (``VariantsProgram``)
  +batching  the extractor with --batch_size renders per batch (what ``extract`` runs), once per render
             engine of ``--engines`` (default: every installed one; the variants before it run on Paddle)

Then the generator / CLIP share of the extractor's time and the hours for every
channel (6048 at 1024 px) x 100 images, extrapolated from the two layers with a model linear in
the FLOPs of the layers from the moved one to the end (and saying so).

With ``--paddlegan DIR`` (a PaddleGAN checkout, see ``paddlegan.py``) PaddleGAN's extraction is
timed in the same run: its loop renders both images of a (channel, image) with its own
generator in batches of 5, so its seconds per (channel, image) are two of its renders per
image at batch 5 (measured now, in a child process) plus the baseline's CLIP time (the same
PIL preprocessing and ViT). Every extractor is then given as a ratio to that figure.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from ppgan.models.generators import StyleGANv2Generator  # noqa: E402
from ppgan.models.generators.fast_synthesis import SynthesisProgram  # noqa: E402
from ppgan.styleclip.clip import ClipEncoder, pil_preprocess  # noqa: E402
from ppgan.utils.image import to_uint8  # noqa: E402
from ppgan.styleclip.directions import channel_direction  # noqa: E402
from ppgan.styleclip.extract import (Batch, DirectionExtractor, finish_directions, layer_row_offsets,  # noqa: E402
                                     moved_styles, plan_rows)
from ppgan.styleclip.stats import collect_statistics  # noqa: E402
from ppgan.utils import engines  # noqa: E402
from paddlegan import NOT_MEASURED, paddlegan_render_seconds, paddlegan_root  # noqa: E402

VARIANTS = ["baseline", "+compiled", "+tensor", "+prefix", "+folded", "+batching"]
FULL_IMAGES = 100
PADDLEGAN_BATCH = 5  # the batch size of PaddleGAN's extract_global_direction


def build_inputs(size, num_images):
    """Random config-f generator of ``size`` px, random CLIP, N S codes and S statistics (256 samples), all seeded."""
    paddle.seed(0)
    generator = StyleGANv2Generator(size, 512, 8)
    generator.eval()
    stats, s_codes = collect_statistics(generator, 256, num_images, 128, seed=0, truncation=1.0)
    paddle.seed(1)
    return generator, ClipEncoder(random_init=True), s_codes, stats.mean, stats.std()


def tail_flops(generator, layer):
    """Multiply-adds of style layers [layer, end) for one image (convolutions only)."""
    total, res = 0, 4
    for idx, channels_in in enumerate(generator.channels_lst):
        conv = generator._style_modules[idx].conv
        count = res * res * channels_in * conv.out_channels * conv.kernel_size ** 2
        if idx >= layer:
            total += count
        if conv.upsample:
            res *= 2
    return total


class UnfoldedVariants:
    """``VariantsProgram``'s interface over a ``SynthesisProgram``: every later layer modulated per render."""

    def __init__(self, program, styles):
        self.program, self.styles = program, styles

    def __call__(self, style, x=None, skip=None):
        styles = [s.expand([style.shape[0], s.shape[1]]) for s in self.styles]
        styles[self.program.start] = style
        return self.program(styles, x, skip)


class TimedExtractor(DirectionExtractor):
    """The extractor with the time of its setup per (layer, image), renders and CLIP embeddings summed.

    Setup: the prefix state, the program (``VariantsProgram``: folded weights, a predictor
    and its first run; with ``folded=False`` one ``SynthesisProgram`` per layer).
    """

    def __init__(self, *args, folded=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.folded = folded
        self.seconds = dict.fromkeys(("setup", "render", "clip"), 0.0)
        self._synthesis = (None, None)

    def _timed(self, key, fn, *args):
        start = time.perf_counter()
        result = fn(*args)
        self.seconds[key] += time.perf_counter() - start
        return result

    def prefix_state(self, layer, image):
        self._state = self._timed("setup", super().prefix_state, layer, image)
        return self._state

    def program(self, layer, image):
        if self.folded:
            if self._program[0] != (layer, image):
                self._timed("setup", self._warm_program, layer, image)
            return self._program[1]
        if self._synthesis[0] != layer:
            self._synthesis = (layer, self._timed("setup", SynthesisProgram, self.generator, layer))
        return UnfoldedVariants(self._synthesis[1], [paddle.to_tensor(s[image:image + 1]) for s in self.s_codes])

    def _warm_program(self, layer, image):
        """Make the program and run it once on the last prefix state (``run`` makes the state of a
        (layer, image) before its first render): a new predictor's first run creates its primitives."""
        super().program(layer, image)(paddle.to_tensor(self.s_codes[layer][image:image + 1]), *self._state)

    def render(self, batch, state):
        self.program(batch.layer, batch.image)  # timed as setup, not as render
        return self._timed("render", super().render, batch, state)

    def embed(self, batch, images):
        return self._timed("clip", super().embed, batch, images)


def straightforward_channel(generator, encoder, s_codes, mean, std, layer, channel, tensor_preprocess,
                            program=None, batch=10):
    """One channel the simple way: full renders of every -/+ image in batches, then CLIP.

    Returns (the row, the seconds spent in CLIP: preprocessing and image tower)."""
    num = len(s_codes[0])
    image_idx = np.repeat(np.arange(num), 2)
    signs = np.tile(np.array([-1.0, 1.0], np.float32), num)
    embeddings, clip_seconds = [], 0.0
    for start in range(0, 2 * num, batch):
        idx, sgn = image_idx[start:start + batch], signs[start:start + batch]
        styles = [paddle.to_tensor(s[idx]) for s in s_codes]
        styles[layer] = paddle.to_tensor(moved_styles(s_codes[layer][idx], np.full(len(idx), channel), sgn,
                                                      mean[layer], std[layer], 5.0))
        if program is None:
            with paddle.no_grad():
                images = generator.synthesis_from_styles(styles)
        else:
            images = program(styles)
        start_clip = time.perf_counter()
        with paddle.no_grad():
            if tensor_preprocess:
                emb = encoder.encode_images(images)
            else:
                pixels = np.stack([pil_preprocess(im) for im in to_uint8(images)])
                emb = encoder.model.encode_image(paddle.to_tensor(pixels))
        embeddings.append(emb.numpy())
        clip_seconds += time.perf_counter() - start_clip
    embeddings = np.concatenate(embeddings)
    return channel_direction(embeddings[1::2], embeddings[0::2]), clip_seconds


def run_variant(variant, args):
    """Time ``variant`` on the first channel(s) of each layer of ``args.layers``; returns a JSON-able dict.

    The extractor variants count the setup of a (layer, image) divided by the layer's
    channel count, as a full run shares it between all of them.
    """
    generator, encoder, s_codes, mean, std = build_inputs(args.size, args.num_images)
    offsets = dict(layer_row_offsets(generator.channels_lst, generator.style_layers))
    result = {"variant": variant, "seconds": [], "rows": []}
    if variant in ("+prefix", "+folded", "+batching"):
        extractor = TimedExtractor(generator, encoder.image_tower, s_codes, mean, std, 5.0,
                                   args.batch_size if variant == "+batching" else 2, folded=variant != "+prefix")
        del encoder
        split = dict.fromkeys(("generator", "clip"), 0.0)
        channels = max(1, extractor.batch_size // 2)  # one full batch per image
        for layer in args.layers:
            warm = Batch(layer, (0,), 0)
            extractor.embed(warm, extractor.render(warm, extractor.prefix_state(layer, warm.image)))
            extractor.seconds = dict.fromkeys(extractor.seconds, 0.0)
            extractor._program = (None, None)  # the timed run makes image 0's program again
            row = offsets[layer]
            plan = extractor.plan((row, row + channels))
            sums = np.zeros((channels, 512))
            positions = np.full(extractor.total_rows, -1, np.int64)
            positions[row:row + channels] = np.arange(channels)
            extractor.run(plan, sums, positions)
            planned = plan_rows(plan, generator.channels_lst, generator.style_layers)
            assert list(planned) == list(range(row, row + channels))
            # a real run makes the setup of a (layer, image) once for all channels of the layer
            sharing = {"setup": generator.channels_lst[layer], "render": channels, "clip": channels}
            per_pair = {key: value / (args.num_images * sharing[key]) for key, value in extractor.seconds.items()}
            result["seconds"].append(sum(per_pair.values()))
            result["rows"].append(finish_directions(sums)[0].tolist())
            split["generator"] += per_pair["setup"] + per_pair["render"]
            split["clip"] += per_pair["clip"]
        result["split"] = split
    else:
        program, batch = None, 10
        if variant in ("+compiled", "+tensor"):
            program, batch = SynthesisProgram(generator, 0), 2
            images = program([paddle.to_tensor(s[:batch]) for s in s_codes])
            if variant == "+tensor":
                encoder.encode_images(images)  # builds (or loads) and warms the compiled CLIP tower
        else:
            with paddle.no_grad():
                generator.synthesis_from_styles([paddle.to_tensor(s[:2]) for s in s_codes])
        result["clip_seconds"] = []
        for layer in args.layers:
            start = time.perf_counter()
            row, clip_seconds = straightforward_channel(generator, encoder, s_codes, mean, std, layer, 0,
                                                        variant == "+tensor", program, batch)
            result["seconds"].append((time.perf_counter() - start) / args.num_images)
            result["clip_seconds"].append(clip_seconds / args.num_images)
            result["rows"].append(row.tolist())
    result["tail_flops"] = [tail_flops(generator, layer) for layer in args.layers]
    result["layers"] = [(tail_flops(generator, layer), generator.channels_lst[layer])
                        for layer in generator.style_layers]
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def projected_hours(result):
    """(hours, mean s per (channel, image)) for every channel x FULL_IMAGES, the seconds per (channel, image)
    taken linear in the FLOPs from the moved layer to the end, through the two measured layers."""
    (x0, x1), (y0, y1) = result["tail_flops"][:2], result["seconds"][:2]
    slope = (y1 - y0) / (x1 - x0)
    channels = sum(count for _, count in result["layers"])
    seconds = sum(count * FULL_IMAGES * (y0 + slope * (flops - x0)) for flops, count in result["layers"])
    return seconds / 3600, seconds / (FULL_IMAGES * channels), channels


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--num_images", type=int, default=4, help="images per channel (the real run: 100)")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--layers", default="6,21", help="an early and a late style layer (non-toRGB)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="variants to time (e.g. +batching alone: the extractor's figure per resolution)")
    parser.add_argument("--engines", nargs="+", choices=engines.ENGINES, default=None,
                        help="engines the extractor (+batching) is timed on (default: every installed one)")
    parser.add_argument("--paddlegan", default=None, help="PaddleGAN checkout to time next to ours (or PADDLEGAN_ROOT)")
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.layers = [int(layer) for layer in args.layers.split(",")]
    variants = [variant for variant in VARIANTS if variant in args.variants.split(",")]
    if args.variant:
        print("RESULT " + json.dumps(run_variant(args.variant, args)))
        return
    root = paddlegan_root(args.paddlegan)
    if root is not None and "baseline" not in variants:
        parser.error("--paddlegan needs the baseline variant (its CLIP time is PaddleGAN's)")
    names = args.engines or [name for name in engines.ENGINES if not engines.missing_packages(name)]
    if "+batching" in variants:  # the extractor once per engine, the other variants on Paddle
        variants = [v for v in variants if v != "+batching"] + [f"+batching:{name}" for name in names]

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other processes slow every "
          "variant; compare the ratios of one run)", flush=True)
    results = {}
    for variant in variants:
        name, _, engine = variant.partition(":")
        out = subprocess.run([sys.executable, __file__, "--variant", name, "--size", str(args.size),
                              "--num_images", str(args.num_images), "--batch_size", str(args.batch_size),
                              "--layers", ",".join(map(str, args.layers))],
                             env={**os.environ, engines.ENGINE_ENV: engine or "paddle"},
                             capture_output=True, text=True, check=True).stdout
        results[variant] = json.loads(out.split("RESULT ", 1)[1])
        r = results[variant]
        print(f"{variant:<22}" + "".join(f"  layer {layer}: {seconds:6.2f} s/(ch,img)"
                                         for layer, seconds in zip(args.layers, r["seconds"]))
              + f"  peak RSS {r['peak_rss_gb']:.2f} GB", flush=True)

    base = results.get("baseline")
    extractors = {variant: result for variant, result in results.items() if variant.startswith("+batching")}
    if base is not None and len(results) > 1:
        cosines = [float(np.dot(a, b)) for variant in variants[1:]
                   for a, b in zip(results[variant]["rows"], base["rows"])]
        print(f"rows of every variant vs the baseline: cosine >= {min(cosines):.5f}")
    for prev, variant in zip(variants, variants[1:]):
        if variant.startswith("+batching:") and prev.startswith("+batching:"):
            prev = variants[variants.index(variant) - 1 - sum(v.startswith("+batching:") for v in
                                                              variants[:variants.index(variant)])]
        gains = [a / b for a, b in zip(results[prev]["seconds"], results[variant]["seconds"])]
        print(f"{variant:<22} speed-up over {prev:<10}: "
              + ", ".join(f"layer {layer} x{gain:.2f}" for layer, gain in zip(args.layers, gains)))
    for variant, result in extractors.items():
        split = result["split"]
        total = split["generator"] + split["clip"]
        print(f"{variant}: generator {split['generator'] / total:.0%}, CLIP (preprocessing + ViT) "
              f"{split['clip'] / total:.0%} of the time")
    reference, channels = None, sum(count for _, count in base["layers"]) if base else 0
    if root is not None:
        render = paddlegan_render_seconds(root, args.size, PADDLEGAN_BATCH, repeats=1)
        reference = 2 * render + float(np.mean(base["clip_seconds"]))
        print(f"PaddleGAN's extraction: {reference:.2f} s per (channel, image) (2 renders by its generator at "
              f"batch {PADDLEGAN_BATCH}, {render:.2f} s per image, + the baseline's CLIP "
              f"{np.mean(base['clip_seconds']):.2f} s); {reference * channels * FULL_IMAGES / 3600:.0f} h for "
              f"{channels} channels x {FULL_IMAGES} images")
    else:
        print(NOT_MEASURED)
    for name, result in [("baseline (PaddleGAN's loop, our eager generator)", base)] + list(extractors.items()):
        if result is None:
            continue
        hours, mean_seconds, channels = projected_hours(result)
        ratios = [f"{projected_hours(base)[1] / mean_seconds:.1f}x the baseline"] if base and result is not base else []
        ratios += [f"{reference / mean_seconds:.1f}x PaddleGAN"] if reference else []
        print(f"{name}: projected {hours:.0f} h for {channels} channels x {FULL_IMAGES} "
              f"images ({mean_seconds:.2f} s per (channel, image) on average; extrapolated from "
              f"{args.num_images} images on layers {args.layers}" + "".join(f"; {r}" for r in ratios) + ")")
    for variant, result in extractors.items():
        print(f"{variant}: peak RSS {result['peak_rss_gb']:.2f} GB")
    print(f"load average after: {os.getloadavg()[0]:.1f}; {engines.cpu_name()}")

if __name__ == "__main__":
    main()

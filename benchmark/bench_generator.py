"""Render speed of the 1024 StyleGAN2 generator (random weights) on this machine.

Seconds per image at batch 1 and 4 for the eager modulated conv in its batched and
grouped forms, for the Paddle Inference (oneDNN) program the tools use on CPUs, and
for the program extraction uses: variants of one S code that differ in layer 0 only,
every later layer with its style folded into its weights (``VariantsProgram``).
One 1024 render is 74.3 G multiply-adds (148.6 GFLOP).

    python benchmark/bench_generator.py [--size 1024] [--repeats 2] [--skip_eager]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

import paddle  # noqa: E402

from ppgan.models.generators import StyleGANv2Generator  # noqa: E402
from ppgan.models.generators.fast_synthesis import SynthesisProgram, VariantsProgram  # noqa: E402


def multiply_adds(generator):
    """Multiply-adds of one render, counted layer by layer (convolutions only)."""
    total, res = 0, 4
    for layer_idx, channels_in in enumerate(generator.channels_lst):
        if generator.is_torgb(layer_idx):
            total += channels_in * 3 * res * res
            continue
        conv = generator._style_modules[layer_idx].conv
        if conv.upsample:
            total += res * res * channels_in * conv.out_channels * 9
            res *= 2
        else:
            total += res * res * channels_in * conv.out_channels * 9
    return total


def seconds_per_image(render, styles, batch, repeats):
    render(styles)  # warm up (oneDNN creates its primitives on the first runs of a shape)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        render(styles)
        best = min(best, time.perf_counter() - start)
    return best / batch


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--skip_eager", action="store_true", help="only the Paddle Inference program")
    args = parser.parse_args()

    paddle.seed(0)
    generator = StyleGANv2Generator(args.size, 512, 8)
    generator.eval()
    gflop = 2 * multiply_adds(generator) / 1e9
    print(f"size {args.size}: {gflop / 2:.1f} G multiply-adds per image; OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")

    start = time.perf_counter()
    program = SynthesisProgram(generator, eager=False)
    print(f"Paddle Inference program ready in {time.perf_counter() - start:.1f} s (export is cached on disk)")

    def eager(grouped):
        def render(styles):
            generator.set_grouped_modconv(grouped)
            with paddle.no_grad():
                return generator.synthesis_from_styles(styles)
        return render

    def folded(styles):
        if folded.program is None:  # one S code: the first sample's (the folding is made once, not timed)
            folded.program = VariantsProgram(generator, 0, [s[:1] for s in styles], eager=False)
        return folded.program(styles[0])
    folded.program = None

    variants = [("inference (oneDNN), batched", program), ("inference, folded (extraction)", folded)]
    if not args.skip_eager:
        variants += [("eager, batched", eager(False)), ("eager, grouped", eager(True))]
    print(f"{'variant':32s} {'batch':>5s} {'s/image':>8s} {'GFLOP/s':>8s}")
    for batch in args.batches:
        with paddle.no_grad():
            styles = generator.style_affine(paddle.randn([batch, 512]))
        folded.program = None
        for name, render in variants:
            t = seconds_per_image(render, styles, batch, args.repeats)
            print(f"{name:32s} {batch:5d} {t:8.2f} {gflop / t:8.1f}", flush=True)


if __name__ == "__main__":
    main()

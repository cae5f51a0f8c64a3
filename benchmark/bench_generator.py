"""Render speed of the 1024 StyleGAN2 generator (random weights) on this machine, per engine, next to PaddleGAN.

Seconds per image at batch 1 and 4 for the synthesis program on every installed engine
(``ppgan.utils.engines``: Paddle Inference with oneDNN, ONNX Runtime, OpenVINO), for the
program extraction uses on each (variants of one S code that differ in layer 0 only,
every later layer with its style folded into its weights: ``VariantsProgram``), for
the eager modulated conv in its batched and grouped forms, and for PaddleGAN's own
generator (``--paddlegan DIR``, a checkout of PaddleGAN; run in a subprocess, see
``paddlegan.py``), all in one run; the last column is PaddleGAN's time over the row's.
One 1024 render is 74.3 G multiply-adds (148.6 GFLOP).

On CPUs with AMX or AVX-512 BF16, each engine's bf16 render and its PSNR against fp32.
Then what a user waits for per extra face with the sample tool on each engine: its
predictor's ``run`` for 5 faces minus 1 face, divided by 4 (mapping, renders, PNG
writing; the program exported and warm), next to PaddleGAN's render per image at batch 1.

    python benchmark/bench_generator.py [--size 1024] [--repeats 2] [--skip_eager] [--paddlegan DIR]
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

import paddle  # noqa: E402

from ppgan.apps.styleganv2_predictor import StyleGANv2Predictor  # noqa: E402
from ppgan.models.generators import StyleGANv2Generator  # noqa: E402
from ppgan.models.generators.fast_synthesis import SynthesisProgram, VariantsProgram, psnr  # noqa: E402
from ppgan.utils import engines  # noqa: E402
from paddlegan import NOT_MEASURED, paddlegan_render_seconds, paddlegan_root  # noqa: E402


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
    parser.add_argument("--engines", nargs="+", choices=engines.ENGINES, default=None,
                        help="engines to time (default: every installed one)")
    parser.add_argument("--skip_eager", action="store_true", help="leave out eager Paddle")
    parser.add_argument("--skip_sample_tool", action="store_true", help="leave out the sample tool's time per face")
    parser.add_argument("--paddlegan", default=None, help="PaddleGAN checkout to time next to ours (or PADDLEGAN_ROOT)")
    args = parser.parse_args()

    paddle.seed(0)
    generator = StyleGANv2Generator(args.size, 512, 8)
    generator.eval()
    gflop = 2 * multiply_adds(generator) / 1e9
    names = args.engines or [name for name in engines.ENGINES if not engines.missing_packages(name)]
    print(f"size {args.size}: {gflop / 2:.1f} G multiply-adds per image; {engines.cpu_name()}, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; engines {engines.versions()}")

    programs = {}
    for name in names:
        start = time.perf_counter()
        programs[name] = SynthesisProgram(generator, eager=False, engine=name)
        print(f"{name} program ready in {time.perf_counter() - start:.1f} s (the export is cached on disk)")

    def eager(grouped):
        def render(styles):
            generator.set_grouped_modconv(grouped)
            with paddle.no_grad():
                return generator.synthesis_from_styles(styles)
        return render

    def folded(name):
        def render(styles):  # one S code: the first sample's (folding it and loading the program are not timed)
            if render.program is None:
                render.program = VariantsProgram(generator, 0, [s[:1] for s in styles], eager=False, engine=name)
                render.program(styles[0])
            return render.program(styles[0])
        render.program = None
        return render

    variants = [(f"{name}", programs[name]) for name in names]
    variants += [(f"{name}, folded (extraction)", folded(name)) for name in names]
    if not args.skip_eager:
        variants += [("eager, batched", eager(False)), ("eager, grouped", eager(True))]
    root = paddlegan_root(args.paddlegan)
    print(f"{'variant':34s} {'batch':>5s} {'s/image':>8s} {'GFLOP/s':>8s} {'x PaddleGAN':>11s}")
    for batch in args.batches:
        reference = None
        if root:
            reference = paddlegan_render_seconds(root, args.size, batch, args.repeats)
            print(f"{'PaddleGAN (its generator)':34s} {batch:5d} {reference:8.2f} {gflop / reference:8.1f} {1:11.2f}",
                  flush=True)
        with paddle.no_grad():
            styles = generator.style_affine(paddle.randn([batch, 512]))
        for name, render in variants:
            if getattr(render, "program", False) is not False:
                render.program = None
            t = seconds_per_image(render, styles, batch, args.repeats)
            ratio = f"{reference / t:11.2f}" if reference else f"{'-':>11s}"
            print(f"{name:34s} {batch:5d} {t:8.2f} {gflop / t:8.1f} {ratio}", flush=True)
    if not root:
        print(NOT_MEASURED)
    bf16_renders(generator, names, args.repeats)
    if not args.skip_sample_tool:
        sample_tool_per_extra_face(generator, names, paddlegan_render_seconds(root, args.size, 1) if root else None)


def bf16_renders(generator, names, repeats):
    """On CPUs with bf16 (AMX / AVX-512 BF16): each engine's bf16 render time and PSNR against its fp32 render."""
    if not engines.cpu_has_bf16():
        print("bf16: this CPU has neither AMX nor AVX-512 BF16, so bf16 is not offered")
        return
    with paddle.no_grad():
        styles = generator.style_affine(paddle.randn([1, 512]))
    for name in names:
        program = SynthesisProgram(generator, eager=False, engine=name, bf16=True)
        if not program.bf16:
            print(f"bf16: {name} has no bf16 path")
            continue
        exact = SynthesisProgram(generator, eager=False, engine=name, bf16=False)(styles).numpy()
        t = seconds_per_image(program, styles, 1, repeats)
        print(f"bf16: {name} {t:.2f} s per image, {psnr(program(styles).numpy(), exact):.1f} dB PSNR against fp32",
              flush=True)


def sample_tool_per_extra_face(generator, names, reference):
    """Print the sample tool's seconds per extra face on each engine: (5 faces - 1 face) / 4, warm."""
    folder = tempfile.mkdtemp(prefix="bench_generator.")
    weights = os.path.join(folder, "generator.pdparams")
    paddle.save(generator.state_dict(), weights)
    print(f"\nsample tool, {generator.size} px, per extra face ((5 faces - 1 face) / 4, PNG writing included)"
          + (f"; PaddleGAN's render: {reference:.2f} s per image" if reference else ""))
    for name in names:
        os.environ[engines.ENGINE_ENV] = name
        predictor = StyleGANv2Predictor(weight_path=weights, size=generator.size)
        seconds = {}
        for faces in (1, 1, 5):  # the first run warms the program up
            predictor.output_path = tempfile.mkdtemp(dir=folder)
            start = time.perf_counter()
            predictor.run(1, faces)
            seconds[faces] = time.perf_counter() - start
        extra = (seconds[5] - seconds[1]) / 4
        ratio = f", {reference / extra:.2f}x PaddleGAN's render" if reference else ""
        print(f"{name:12s} 1 face {seconds[1]:.2f} s, 5 faces {seconds[5]:.2f} s: {extra:.2f} s per extra face{ratio}",
              flush=True)


if __name__ == "__main__":
    main()

"""Speed of the CLIP part of direction extraction per image: preprocessing of 1024 px renders, then the image tower.

    python benchmark/bench_clip.py [--batch 8] [--size 1024] [--rounds 5]

Milliseconds per image (random renders and random CLIP weights), min and median over
``--rounds`` interleaved rounds, so that load from other processes hits every variant alike:

  preprocess float64   the previous ``clip_preprocess``: dense float64 products (exact)
  preprocess           ``clip_preprocess``: exact float32 split products (vertical pass banded)
  tower eager          ``model.visual`` in eager Paddle (the previous extraction, and the GPU path)
  tower compiled       ``ImageTower``: Paddle Inference with oneDNN (extraction on CPUs)

A Paddle Inference run leaves eager products on one thread (``ppgan.utils.compiled.run_predictor``
now restores them), so the previous extraction ran its eager CLIP part single-threaded: the eager
variants are timed on every core and on one thread. Both preprocessings give the same bits (checked).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from ppgan.styleclip.clip import ClipEncoder, clip_preprocess  # noqa: E402
from ppgan.styleclip.clip.preprocess import (center_crop_offsets, normalize_for_clip, pil_bicubic_matrix,  # noqa: E402
                                             quantize_to_levels, resized_size)
from ppgan.utils.compiled import cpu_threads, set_eager_threads  # noqa: E402


def float64_preprocess(images, size=224):
    """The previous implementation: each PIL pass a dense float64 product, floor((A @ x + 2**21) / 2**22)."""
    height, width = images.shape[2], images.shape[3]
    out_h, out_w = resized_size(height, width, size)
    top, left = center_crop_offsets(out_h, out_w, size)
    rows = paddle.to_tensor(pil_bicubic_matrix(height, out_h)[top:top + size], dtype="float64")
    cols = paddle.to_tensor(pil_bicubic_matrix(width, out_w)[left:left + size], dtype="float64")
    levels = quantize_to_levels(images).astype("float64")
    for matrix, last in ((cols, True), (rows, False)):
        levels = paddle.matmul(levels, matrix, transpose_y=True) if last else paddle.matmul(matrix, levels)
        levels = paddle.floor((levels + 2.0 ** 21) / 2.0 ** 22).clip(0.0, 255.0)
    return normalize_for_clip(levels.astype("float32") / 255.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=1024, help="render size")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    paddle.seed(0)
    images = paddle.uniform([args.batch, 3, args.size, args.size], min=-1.1, max=1.1)
    encoder = ClipEncoder(random_init=True)
    visual = encoder.model.visual
    start = time.perf_counter()
    tower = encoder.image_tower
    print(f"batch {args.batch}, {args.size} px renders, {cpu_threads()} threads; "
          f"compiled image tower ready in {time.perf_counter() - start:.1f} s (export cached on disk)")

    pixels = clip_preprocess(images)
    assert np.array_equal(pixels.numpy(), float64_preprocess(images).numpy()), "preprocessings differ"
    with paddle.no_grad():
        reference = visual(pixels).numpy()
    ours = tower(pixels).numpy()
    cosine = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    print(f"compiled vs eager tower: max |diff| {np.abs(ours - reference).max():.2e}, min cosine {cosine.min():.8f}")

    def eager_tower(x):
        with paddle.no_grad():
            return visual(x)

    many, one = cpu_threads(), 1
    states = {many: lambda: set_eager_threads(many), one: lambda: set_eager_threads(one)}
    variants = {
        f"preprocess float64 ({many} thr)": (many, lambda: float64_preprocess(images)),
        f"preprocess ({many} thr)": (many, lambda: clip_preprocess(images)),
        f"tower eager ({many} thr)": (many, lambda: eager_tower(pixels)),
        "preprocess float64 (1 thr)": (one, lambda: float64_preprocess(images)),
        "preprocess (1 thr)": (one, lambda: clip_preprocess(images)),
        "tower eager (1 thr)": (one, lambda: eager_tower(pixels)),
        "tower compiled": (one, lambda: tower(pixels)),
    }
    for _, run in variants.values():
        run()  # warm up
    times = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (threads, run) in variants.items():
            states[threads]()
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) * 1000 / args.batch)
    states[many]()

    print(f"{'ms per image':32s} {'min':>7s} {'median':>7s}")
    best = {name: min(values) for name, values in times.items()}
    median = {name: float(np.median(values)) for name, values in times.items()}
    for name in variants:
        print(f"{name:32s} {best[name]:7.1f} {median[name]:7.1f}")
    for threads, label in ((many, "eager on every core"), (one, "eager on one thread, as the previous extraction")):
        for stat, values in (("min", best), ("median", median)):
            old = values[f"preprocess float64 ({threads} thr)"] + values[f"tower eager ({threads} thr)"]
            new = values[f"preprocess ({threads} thr)"] + values["tower compiled"]
            print(f"CLIP part, {label} ({stat}): {old:.1f} -> {new:.1f} ms per image, {old / new:.2f}x")


if __name__ == "__main__":
    main()

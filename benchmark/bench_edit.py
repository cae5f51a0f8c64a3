"""Timing of a text edit at 1024 px with random weights, per render engine: text features, relevance, rendering, files.

    python benchmark/bench_edit.py [--strengths -1 0 1 2 3 4 5] [--batch_size N] [--size 1024] [--edits 2]
        [--engines paddle onnxruntime openvino] [--paddlegan DIR]

Every installed engine (``ppgan.utils.engines``) runs the same edits with one strength (3)
and with ``--strengths`` (seven by default), in one run; with ``--paddlegan DIR`` (a
PaddleGAN checkout, ``paddlegan.py``) PaddleGAN's own render time is measured first, and
the renders of an edit on PaddleGAN's generator (their count times that time) are printed
as its lower bound.

Random generator (ffhq-config-f shape), random ViT-B/32 and random direction
file are written to a temporary folder, with a temporary PPGAN_HOME so the
first synthesis program is a cold export (later ones load the cached export).
Each edit renders the source and every offset, as ``styleganv2clip.py`` does;
the first edit also pays oneDNN's first-run cost. Rendering is also given in
CPU seconds of this process, which other jobs on a shared machine do not inflate
(wall = CPU / cores when the cores are free).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from ppgan.apps.styleganv2_predictor import RENDER_PIXELS  # noqa: E402
from ppgan.apps.styleganv2clip_predictor import StyleGANv2ClipPredictor  # noqa: E402
from ppgan.models.generators import StyleGANv2Generator  # noqa: E402
from ppgan.models.generators.fast_synthesis import SynthesisProgram  # noqa: E402
from ppgan.styleclip.clip import save_random_clip_weights  # noqa: E402
from ppgan.utils import engines  # noqa: E402
from paddlegan import NOT_MEASURED, paddlegan_render_seconds, paddlegan_root  # noqa: E402

EDITS = [("face", "smiling face"), ("face", "face with blue eyes"), ("face", "old face")]


def timed(fn, *args, **kwargs):
    """(result, seconds) of ``fn(*args, **kwargs)``."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def cpu_timed(fn, *args):
    """(result, wall seconds, CPU seconds of this process) of ``fn(*args)``."""
    cpu = time.process_time()
    result, wall = timed(fn, *args)
    return result, wall, time.process_time() - cpu


def write_random_files(folder, size):
    """Random generator, CLIP and direction files in ``folder``; returns their paths and the setup seconds."""
    start = time.perf_counter()
    paths = {name: os.path.join(folder, name) for name in ("generator.pdparams", "clip.pdparams", "fs3.pdparams")}
    paddle.seed(0)
    generator = StyleGANv2Generator(size, 512, 8, 2)
    paddle.save(generator.state_dict(), paths["generator.pdparams"])
    save_random_clip_weights(paths["clip.pdparams"], seed=0)
    rows = sum(generator.channels_lst[layer] for layer in generator.style_layers)
    fs3 = np.random.default_rng(0).standard_normal((rows, 512)).astype(np.float32)
    paddle.save(paddle.to_tensor(fs3 / np.linalg.norm(fs3, axis=1, keepdims=True)), paths["fs3.pdparams"])
    return paths, time.perf_counter() - start


def bench_edit(predictor, neutral, target, strengths, batch_size):
    """Seconds of each step of one edit, and the number of channels it moved."""
    latents = predictor.source_latents()
    delta_t, text = timed(predictor.text_direction.delta_t, neutral, target)
    direction, relevance = timed(predictor.style_direction, delta_t, "auto")
    (images, last_styles), render, render_cpu = cpu_timed(predictor.render_edits, latents, direction.delta_s,
                                                          strengths, batch_size)
    _, write = timed(predictor.save, images, last_styles, strengths)
    return dict(text=text, relevance=relevance, render=render, render_cpu=render_cpu, write=write), direction.moved


def run_edits(predictor, strength_sets, args):
    """Print one row per (strengths, edit) of ``predictor`` (its engine already chosen)."""
    header = ["engine", "strengths", "edit", "channels", "text s", "relevance s", "render s", "render cpu s",
              "cpu/render", "edit s", "write s"]
    print("".join(f"{name:>13}" for name in header))
    for strengths in strength_sets:
        renders = 1 + sum(strength != 0 for strength in strengths)
        for number, (neutral, target) in enumerate(EDITS[:args.edits], 1):
            seconds, moved = bench_edit(predictor, neutral, target, tuple(strengths), args.batch_size)
            edit = seconds["text"] + seconds["relevance"] + seconds["render"]
            row = [predictor.synthesis.engine or "eager", len(strengths), f"#{number}", moved,
                   f"{seconds['text']:.2f}", f"{seconds['relevance']:.3f}", f"{seconds['render']:.2f}",
                   f"{seconds['render_cpu']:.2f}", f"{seconds['render_cpu'] / renders:.2f}", f"{edit:.2f}",
                   f"{seconds['write']:.2f}"]
            print("".join(f"{value:>13}" for value in row), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strengths", type=float, nargs="+", default=[-1, 0, 1, 2, 3, 4, 5])
    parser.add_argument("--batch_size", type=int, default=None, help="renders per batch (default: the predictor's)")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--edits", type=int, default=2, choices=range(1, len(EDITS) + 1))
    parser.add_argument("--engines", nargs="+", choices=engines.ENGINES, default=None,
                        help="engines to time (default: every installed one)")
    parser.add_argument("--paddlegan", default=None, help="PaddleGAN checkout to time next to ours (or PADDLEGAN_ROOT)")
    args = parser.parse_args()
    names = args.engines or [name for name in engines.ENGINES if not engines.missing_packages(name)]
    strength_sets = [[3.0], list(args.strengths)]

    folder = tempfile.mkdtemp(prefix="bench_edit.")
    os.environ["PPGAN_HOME"] = os.path.join(folder, "home")
    try:
        root = paddlegan_root(args.paddlegan)
        if root:
            render = paddlegan_render_seconds(root, args.size, 1)
            print(f"PaddleGAN's render: {render:.2f} s per image; its edits' renders alone: "
                  + ", ".join(f"{len(strengths)} strength(s) + source "
                              f"{(1 + sum(s != 0 for s in strengths)) * render:.1f} s" for strengths in strength_sets),
                  flush=True)
        else:
            print(NOT_MEASURED)
        paths, setup = write_random_files(folder, args.size)
        print(f"setup (random generator, CLIP and direction files, not part of an edit): {setup:.1f} s; "
              f"{engines.cpu_name()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
        for name in names:
            os.environ[engines.ENGINE_ENV] = name
            predictor, cold = timed(StyleGANv2ClipPredictor, os.path.join(folder, "out"),
                                    weight_path=paths["generator.pdparams"], direction_path=paths["fs3.pdparams"],
                                    clip_weight_path=paths["clip.pdparams"], size=args.size)
            _, warm = timed(SynthesisProgram, predictor.generator)
            _, clip_load = timed(lambda: predictor.text_direction)
            batch = args.batch_size or max(1, RENDER_PIXELS // args.size ** 2)
            print(f"\n{name}: load generator + directions + synthesis program: {cold:.1f} s cold (export), "
                  f"synthesis program alone warm (cached export): {warm:.1f} s; CLIP load: {clip_load:.1f} s; "
                  f"{args.size} px, render batch {batch}")
            run_edits(predictor, strength_sets, args)
        print("edit s = text + relevance + render (the source and every nonzero strength); write s = PNG "
              "encoding and files; edits after the first encode only their new texts (features are cached)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Timing of the real-photo pipeline on the fixture photos.

    python benchmark/bench_faces.py [--fixtures DIR] [--repeats 3]

Alignment: seconds per photo for loading + detection + landmarks, for the
FFHQ warp, and in total, at output sizes 1024 and 256 (median of the repeats).
pSp: seconds to encode one aligned 256x256 face into W+ with the full
GradualStyleEncoder (IR-SE-50, 18 styles; random weights, same cost as released).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

from ppgan.faceutils import FaceAligner, ffhq_quad, load_rgb, warp_quad  # noqa: E402
from ppgan.models.generators.generator_pixel2style2pixel import GradualStyleEncoder  # noqa: E402

import paddle  # noqa: E402

FACE_PHOTOS = ["face_psp_input.jpg", "face_input_img.jpg", "ffhq_e4e_0.jpg", "ffhq_e4e_1.jpg", "ffhq_e4e_2.jpg"]


def timed(fn, *args):
    """(result, seconds) of ``fn(*args)``."""
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def load_and_detect(aligner, path):
    """(RGB image, landmarks [68,2] of its largest face)."""
    image = load_rgb(path)
    return image, aligner.detector.largest_face(image, path)[0]


def bench_alignment(fixtures, repeats, sizes=(1024, 256)):
    """Print model load time and per-photo seconds (detect+landmarks, warp, total) per output size."""
    aligner, load_seconds = timed(FaceAligner)
    print(f"alignment: landmark model load {load_seconds:.2f} s (once per FaceAligner)")
    print(f"{'photo':<22}{'input':>11}{'size':>6}{'detect+lm s':>13}{'warp s':>9}{'total s':>9}")
    totals = {size: [] for size in sizes}
    for name in FACE_PHOTOS:
        path = os.path.join(fixtures, name)
        for size in sizes:
            detect, warp = [], []
            for _ in range(repeats):
                (image, landmarks), seconds = timed(load_and_detect, aligner, path)
                detect.append(seconds)
                warp.append(timed(warp_quad, image, ffhq_quad(landmarks), size)[1])
            d, w = statistics.median(detect), statistics.median(warp)
            totals[size].append(d + w)
            print(f"{name:<22}{'x'.join(map(str, image.size)):>11}{size:>6}{d:>13.3f}{w:>9.3f}{d + w:>9.3f}")
    for size in sizes:
        mean = statistics.mean(totals[size])
        print(f"alignment at {size}: {mean:.3f} s per photo (mean over {len(FACE_PHOTOS)} photos)")


def bench_psp_encode(repeats):
    """Print the median seconds of one pSp encode (batch 1, 256x256, eager) after a warm-up."""
    encoder, build_seconds = timed(GradualStyleEncoder)
    encoder.eval()
    faces = paddle.uniform([1, 3, 256, 256], min=-1.0, max=1.0)
    with paddle.no_grad():
        encoder(faces)
        seconds = statistics.median(timed(encoder, faces)[1] for _ in range(repeats))
    print(f"pSp encode at 256: {seconds:.2f} s per image (median of {repeats}; "
          f"random-weight encoder built in {build_seconds:.1f} s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_fixtures = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
    parser.add_argument("--fixtures", default=os.path.abspath(default_fixtures))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bench_alignment(args.fixtures, args.repeats)
    bench_psp_encode(args.repeats)


if __name__ == "__main__":
    main()

"""Timing of the real-photo pipeline on the fixture photos.

    python benchmark/bench_faces.py [--fixtures DIR] [--repeats 3] [--only alignment psp photo fitting]

Alignment: seconds per photo for loading + detection + landmarks, for the
FFHQ warp, and in total, at output sizes 1024 and 256 (median of the repeats).
pSp: seconds to encode one aligned 256x256 face into W+ with the full
GradualStyleEncoder (IR-SE-50, 18 styles; random weights, same cost as released).
Photo -> edited photo: ``styleganv2clip.py --input_image`` on one fixture photo at
1024 px (1 offset, no fitting; random generator, CLIP, directions and pSp of the
released shapes), per stage, after a first photo that pays the one-time costs.
Fitting: seconds per step (MSE + LPIPS on random VGG16 weights, every W+ row) at 1024 px.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

from ppgan.faceutils import FaceAligner, ffhq_quad, load_rgb, warp_quad  # noqa: E402
from ppgan.models.generators.generator_pixel2style2pixel import GradualStyleEncoder  # noqa: E402

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from bench_edit import timed, write_random_files  # noqa: E402

FACE_PHOTOS = ["face_psp_input.jpg", "face_input_img.jpg", "ffhq_e4e_0.jpg", "ffhq_e4e_1.jpg", "ffhq_e4e_2.jpg"]


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


def write_random_models(folder, size=1024):
    """``bench_edit.write_random_files`` (generator, CLIP, directions) and a random pSp of the released shapes."""
    from ppgan.models.generators import Pixel2Style2Pixel

    paths, _ = write_random_files(folder, size)
    paths["psp.pdparams"] = os.path.join(folder, "psp.pdparams")
    opts = dict(encoder_type="GradualStyleEncoder", input_nc=3, start_from_latent_avg=True, learn_in_w=False,
                size=size, style_dim=512, n_mlp=8, channel_multiplier=2)
    paddle.save(dict(Pixel2Style2Pixel(opts).state_dict(), opts=opts), paths["psp.pdparams"])
    return paths


def bench_photo_edit(fixtures, folder, photos=("face_psp_input.jpg", "ffhq_e4e_0.jpg")):
    """Print the seconds of each stage of photo -> edited photo (1 offset) per photo; the first pays the loads."""
    from ppgan.inversion import InvertedPhoto, PhotoInverter
    from ppgan.apps.styleganv2clip_predictor import StyleGANv2ClipPredictor

    (paths, setup) = timed(write_random_models, folder)
    print(f"\nphoto -> edited photo at 1024 px, 1 offset, no fitting (random model files written in {setup:.0f} s)")
    (predictor, load) = timed(StyleGANv2ClipPredictor, os.path.join(folder, "out"),
                              weight_path=paths["generator.pdparams"], direction_path=paths["fs3.pdparams"],
                              clip_weight_path=paths["clip.pdparams"], size=1024)
    g = predictor.generator
    inverter = PhotoInverter(paths["psp.pdparams"], latent_shape=(g.n_latent, g.style_dim))
    print(f"generator + directions load: {load:.1f} s")
    header = ["photo", "align s", "pSp s", "text s", "render+paste+write s", "total s"]
    print(f"{header[0]:<22}" + "".join(f"{name:>22}" for name in header[1:]))
    for number, name in enumerate(photos):
        path = os.path.join(fixtures, name)
        faces, align = timed(inverter.align, path, 8)
        latents, psp = timed(inverter.latents, load_rgb(path), faces)
        direction, text = timed(lambda: predictor.style_direction(
            predictor.text_direction.delta_t("face", f"smiling face {number}"), 0.12))
        _, edit = timed(predictor.edit_photo, InvertedPhoto(load_rgb(path), faces, latents), name.split(".")[0],
                        direction, (5.0,))
        total = align + psp + text + edit
        label = name + (" (cold)" if number == 0 else "")
        print(f"{label:<22}" + "".join(f"{value:>22.2f}" for value in (align, psp, text, edit, total)))
    print("cold: the first photo also loads the landmark model, pSp, CLIP and the synthesis program (goal for a "
          "warm photo: under 10 s)")
    return paths


def bench_fitting_step(weight_path, steps=3):
    """Print seconds per fitting step at 1024 px (MSE + LPIPS on random VGG16 weights, all 18 W+ rows)."""
    from ppgan.inversion.fitting import LatentFitter
    from ppgan.metrics.lpips import LPIPS
    from ppgan.models.loading import load_stylegan2
    from ppgan.models.zoo import model_spec

    generator = load_stylegan2(model_spec("stylegan2", weight_path=weight_path))
    fitter = LatentFitter(generator, LPIPS())
    rng = np.random.default_rng(0)
    target = rng.uniform(-1, 1, (1, 3, 1024, 1024)).astype(np.float32)
    initial = np.tile(rng.standard_normal((1, 1, 512)).astype(np.float32), (1, generator.n_latent, 1))
    _, first = timed(fitter.fit, target, initial, range(generator.n_latent), 1, progress=False)
    _, more = timed(fitter.fit, target, initial, range(generator.n_latent), steps, progress=False)
    print(f"\nfitting at 1024 px: {more / steps:.2f} s per step (mean of {steps}; a first single step "
          f"took {first:.2f} s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_fixtures = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
    parser.add_argument("--fixtures", default=os.path.abspath(default_fixtures))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=("alignment", "psp", "photo", "fitting"),
                        default=("alignment", "psp", "photo", "fitting"))
    args = parser.parse_args()
    if "alignment" in args.only:
        bench_alignment(args.fixtures, args.repeats)
    if "psp" in args.only:
        bench_psp_encode(args.repeats)
    if "photo" in args.only or "fitting" in args.only:
        folder = tempfile.mkdtemp(prefix="bench_faces.")
        os.environ["PPGAN_HOME"] = os.path.join(folder, "home")
        try:
            if "photo" in args.only:
                paths = bench_photo_edit(args.fixtures, folder)
                weight_path = paths["generator.pdparams"]
            else:
                from ppgan.models.generators import StyleGANv2Generator

                weight_path = os.path.join(folder, "generator.pdparams")
                paddle.save(StyleGANv2Generator(1024, 512, 8, 2).state_dict(), weight_path)
            if "fitting" in args.only:
                bench_fitting_step(weight_path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

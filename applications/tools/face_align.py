"""Align the faces of photos to FFHQ crops, the input StyleGAN2 and pSp expect.

    python applications/tools/face_align.py --input_image PHOTO_OR_DIR [...] --output_path DIR
        [--size 1024] [--landmark_model PATH]

Each photo (a folder stands for the images directly inside it) gives
``DIR/<name>_aligned.png``, aligned on its largest face. A photo that cannot be
aligned (no face, unreadable) is reported on stderr and gets no output; the
other photos are still aligned, and the tool then exits with status 2.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from ppgan.faceutils import IMAGE_EXTENSIONS, FaceAligner  # noqa: E402
from ppgan.utils.cli import run_cli  # noqa: E402
from ppgan.utils.errors import UserError  # noqa: E402
from ppgan.utils.fileio import atomic_path, check_writable_dir  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Align faces in photos to FFHQ crops.")
    parser.add_argument("--input_image", nargs="+", required=True, metavar="PATH",
                        help="photos and/or folders of photos")
    parser.add_argument("--output_path", default="output_dir", help="folder for <name>_aligned.png files")
    parser.add_argument("--size", type=int, default=1024, help="side of the aligned square image in pixels")
    parser.add_argument("--landmark_model", default=None,
                        help="shape_predictor_68_face_landmarks.dat (default: from face-recognition-models)")
    return parser.parse_args(argv)


def collect_photos(inputs):
    """Expand folders (their image files, sorted) and check that every input exists."""
    photos = []
    for path in inputs:
        if os.path.isdir(path):
            found = sorted(os.path.join(path, name) for name in os.listdir(path)
                           if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."))
            if not found:
                raise UserError(f"folder {path} has no image files ({', '.join(IMAGE_EXTENSIONS)}); "
                                "pass photos or a folder of photos")
            photos.extend(found)
        elif os.path.isfile(path):
            photos.append(path)
        else:
            raise UserError(f"input {path} does not exist; check --input_image")
    return photos


def output_paths(photos, output_dir):
    """``output_dir/<name>_aligned.png`` per photo; two photos with the same name are an error."""
    targets = {}
    for photo in photos:
        target = os.path.join(output_dir, os.path.splitext(os.path.basename(photo))[0] + "_aligned.png")
        if target in targets:
            raise UserError(f"{targets[target]} and {photo} would both be written to {target}; rename one of them")
        targets[target] = photo
    return list(targets)


def main(argv=None):
    args = parse_args(argv)
    if args.size < 16:
        raise UserError(f"--size {args.size} is too small; use at least 16 (StyleGAN2 FFHQ: 1024, pSp: 256)")
    photos = collect_photos(args.input_image)
    targets = output_paths(photos, args.output_path)
    check_writable_dir(args.output_path)
    aligner = FaceAligner(args.landmark_model)
    failed = []
    for photo, target in zip(photos, targets):
        try:
            result = aligner(photo, args.size)
        except UserError as exc:
            if len(photos) == 1:
                raise
            print(f"error: {exc}", file=sys.stderr)
            failed.append(photo)
            continue
        with atomic_path(target) as tmp:
            result.image.save(tmp)
        note = f" ({result.face_count} faces, aligned the largest)" if result.face_count > 1 else ""
        print(f"{photo} -> {target}{note}")
    if failed:
        raise UserError(f"{len(failed)} of {len(photos)} photos not aligned ({', '.join(failed)}); "
                        "see the messages above")


if __name__ == "__main__":
    run_cli(main)

"""Align the faces of photos to FFHQ crops, the input StyleGAN2 and pSp expect, and paste crops back.

    python applications/tools/face_align.py --input_image PHOTO_OR_DIR [...] --output_path DIR
        [--size 1024] [--max_faces 1] [--landmark_model PATH] [--cpu]
    python applications/tools/face_align.py --input_image PHOTO --paste_back ALIGNED.png
        [--face_index 0] [--match_colours] --output_path DIR
    python applications/tools/face_align.py --input_video VIDEO --output_path DIR [--size 1024] [--max_faces 1]
    python applications/tools/face_align.py --input_video VIDEO --paste_back CROPS_DIR --output_path DIR

Each photo (a folder stands for the images directly inside it) gives
``DIR/<name>_aligned.png``, aligned on its largest face, and ``DIR/<name>_aligned.json``
(source file, photo size, quad, crop size, face index); with ``--max_faces N`` the
next largest faces give ``<name>_aligned_1.png`` ... A photo that cannot be
aligned (no face, unreadable) is reported on stderr and gets no output; the
other photos are still aligned, and the tool then exits with status 2.

``--paste_back`` writes ``DIR/<name>_pasted.png``: the photo with the aligned
image (e.g. an edit of the crop, at any resolution) pasted over face N (0 = the
largest). The quad comes from the JSON beside the aligned image when it was made
from this photo, else the alignment is recomputed.
"""
import argparse
import os
import sys

from PIL import Image
from tqdm import tqdm

from ..faceutils import FaceAligner, LandmarkDetector, collect_images, load_rgb
from ..faceutils.paste import (
    alignment_json_path,
    load_alignment,
    paste_face,
    save_alignment,
)
from ..faceutils.video_faces import (
    aligned_frames,
    find_video_crops,
    follow_faces,
    paste_video,
    video_crop_name,
    video_stem,
)
from ..utils.checks import check_int
from ..utils.errors import UserError
from ..utils.fileio import (
    atomic_files,
    atomic_path,
    check_output_files,
    check_writable_dir,
)
from ..utils.video import probe_video

MIN_SIZE, MAX_SIZE = 16, 8192
MAX_FACES = 100


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Align faces in photos or video frames to FFHQ crops, "
                                                 "and paste crops back.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input_image", nargs="+", metavar="PATH", help="photos and/or folders of photos")
    source.add_argument("--input_video", metavar="VIDEO",
                        help="a video: crops <stem>_<frame:06d>_aligned.png of every frame with a face")
    parser.add_argument("--output_path", default="output_dir", help="folder for the aligned or pasted files")
    parser.add_argument("--size", type=int, default=1024,
                        help=f"side of the aligned square image in pixels ({MIN_SIZE} to {MAX_SIZE})")
    parser.add_argument("--max_faces", type=int, default=1,
                        help=f"align up to this many faces per photo, largest first; in a video, follow the "
                             f"largest face of the first frame and this many minus one more (1 to {MAX_FACES}, default 1)")
    parser.add_argument("--landmark_model", default=None,
                        help="shape_predictor_68_face_landmarks.dat (default: from face-recognition-models)")
    parser.add_argument("--paste_back", default=None, metavar="ALIGNED",
                        help="paste this aligned image back into the photo (writes DIR/<name>_pasted.png); with "
                             "--input_video, the folder of the video's crops (writes DIR/<stem>_pasted.mp4)")
    parser.add_argument("--face_index", type=int, default=0,
                        help="with --paste_back: the face it replaces, 0 = the largest (default 0)")
    parser.add_argument("--match_colours", action="store_true",
                        help="with --paste_back: match the pasted face's colour statistics to the photo's")
    parser.add_argument("--cpu", action="store_true",
                        help="accepted like every tool's --cpu; alignment always runs on the CPU (dlib, numpy)")
    return parser.parse_args(argv)


def aligned_name(photo, index):
    """``<name>_aligned.png`` for face 0, ``<name>_aligned_<index>.png`` for the others."""
    suffix = "" if index == 0 else f"_{index}"
    return os.path.splitext(os.path.basename(photo))[0] + f"_aligned{suffix}.png"


def output_paths(photos, output_dir):
    """``output_dir/<name>_aligned.png`` per photo; two photos with the same name are an error."""
    targets = {}
    for photo in photos:
        target = os.path.join(output_dir, aligned_name(photo, 0))
        if target in targets:
            raise UserError(f"{targets[target]} and {photo} would both be written to {target}; rename one of them")
        targets[target] = photo
    return list(targets)


def recorded_quad(aligned_path, photo_path, photo_size, face_index):
    """The quad of the JSON beside ``aligned_path`` if it describes face ``face_index`` of this photo, else None."""
    record_path = alignment_json_path(aligned_path)
    if not os.path.isfile(record_path):
        return None
    record = load_alignment(record_path)
    if (record["source"] != os.path.basename(photo_path) or record["photo_size"] != tuple(photo_size)
            or record["face_index"] != face_index):
        return None
    return record["quad"]


def paste_back(args):
    """The --paste_back mode: write ``DIR/<name>_pasted.png``."""
    if len(args.input_image) != 1 or not os.path.isfile(args.input_image[0]):
        raise UserError("--paste_back needs exactly one existing photo in --input_image")
    check_int("--face_index", args.face_index, 0, fix="pass 0 for the largest face")
    photo_path = args.input_image[0]
    target = os.path.join(args.output_path, os.path.splitext(os.path.basename(photo_path))[0] + "_pasted.png")
    check_writable_dir(args.output_path)
    check_output_files([target])
    photo = load_rgb(photo_path)
    aligned = load_rgb(args.paste_back)
    if aligned.width != aligned.height:
        raise UserError(f"{args.paste_back} is {aligned.width}x{aligned.height}, not square; "
                        "pass an aligned face image (face_align.py or an edit of one)")
    quad = recorded_quad(args.paste_back, photo_path, photo.size, args.face_index)
    if quad is None:
        faces = FaceAligner(args.landmark_model).align_faces(photo, aligned.width)
        if args.face_index >= len(faces):
            raise UserError(f"--face_index {args.face_index} but {photo_path} has {len(faces)} face(s); "
                            f"pass 0..{len(faces) - 1}")
        quad = faces[args.face_index].quad
    pasted, _ = paste_face(photo, aligned, quad, args.match_colours)
    with atomic_path(target) as tmp:
        Image.fromarray(pasted).save(tmp, format="PNG")
    print(f"{args.paste_back} -> face {args.face_index} of {photo_path} -> {target}")


def align_video(args):
    """The --input_video mode: a crop and its JSON per frame and followed face, all written together at the end."""
    info = probe_video(args.input_video)
    check_writable_dir(args.output_path)
    detector = LandmarkDetector(args.landmark_model)
    track, quads = follow_faces(info, detector, args.max_faces)
    with_face = sum(any(q is not None for q in frame) for frame in quads)
    if with_face == 0:
        raise UserError(f"no face found in any of the {info.frame_count} frames of {info.path}; "
                        "pass a video with a clearly visible frontal face to --input_video")
    stem = video_stem(info)
    targets = [os.path.join(args.output_path, video_crop_name(stem, index, face))
               for index, frame in enumerate(quads) for face, quad in enumerate(frame) if quad is not None]
    check_output_files(targets + [alignment_json_path(target) for target in targets])
    with atomic_files(args.output_path) as staged, \
            tqdm(total=info.frame_count, desc="aligning", unit="frame", file=sys.stderr) as bar:
        for index, _, faces in aligned_frames(info, quads, args.size, track.face_counts):
            for face in filter(None, faces):
                target = os.path.join(args.output_path, video_crop_name(stem, index, face.index))
                face.image.save(staged.path(target), format="PNG")
                save_alignment(staged.path(alignment_json_path(target)), face, info.path, frame=index)
            bar.update(1)
    print(f"{info.path}: {with_face} of {info.frame_count} frames with a face, {info.frame_count - with_face} "
          f"without -> {len(targets)} crops {os.path.join(args.output_path, stem)}_NNNNNN_aligned.png")


def paste_back_video(args):
    """The --input_video --paste_back mode: write ``DIR/<stem>_pasted.mp4``."""
    info = probe_video(args.input_video)
    target = os.path.join(args.output_path, video_stem(info) + "_pasted.mp4")
    check_writable_dir(args.output_path)
    check_output_files([target])
    crops = find_video_crops(args.paste_back, info)
    pasted = paste_video(info, crops, target, args.match_colours)
    print(f"{info.path}: {pasted} of {info.frame_count} frames with a face pasted back, "
          f"{info.frame_count - pasted} copied through -> {target}")


def main(argv=None):
    args = parse_args(argv)
    check_int("--size", args.size, MIN_SIZE, MAX_SIZE,
              fix=f"use {MIN_SIZE} to {MAX_SIZE} pixels (StyleGAN2 FFHQ: 1024, pSp: 256)")
    check_int("--max_faces", args.max_faces, 1, MAX_FACES)
    if args.input_video is not None:
        return paste_back_video(args) if args.paste_back is not None else align_video(args)
    if args.paste_back is not None:
        return paste_back(args)
    photos = collect_images(args.input_image)
    output_paths(photos, args.output_path)
    check_writable_dir(args.output_path)
    check_output_files([path for photo in photos for index in range(args.max_faces)
                        for path in (os.path.join(args.output_path, aligned_name(photo, index)),
                                     alignment_json_path(os.path.join(args.output_path, aligned_name(photo, index))))])
    aligner = FaceAligner(args.landmark_model)
    failed = []
    for photo in photos:
        try:
            faces = aligner.align_faces(photo, args.size, args.max_faces, extra_faces="ignore")
        except UserError as exc:
            if len(photos) == 1:
                raise
            print(f"error: {exc.as_flags()}", file=sys.stderr)
            failed.append(photo)
            continue
        targets = [os.path.join(args.output_path, aligned_name(photo, face.index)) for face in faces]
        with atomic_files(args.output_path) as staged:  # a photo's crops and records appear together
            for face, target in zip(faces, targets):
                face.image.save(staged.path(target), format="PNG")
                save_alignment(staged.path(alignment_json_path(target)), face, photo)
        count = faces[0].face_count
        note = f" ({count} faces, aligned the largest {len(faces)})" if count > len(faces) else ""
        print(f"{photo} -> {', '.join(targets)}{note}")
    if failed:
        raise UserError(f"{len(failed)} of {len(photos)} photos not aligned ({', '.join(failed)}); "
                        "see the messages above")

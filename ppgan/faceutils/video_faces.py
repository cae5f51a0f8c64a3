"""Faces of a video: FFHQ crops of every frame, steady over time, and crops pasted back into the video.

Two passes over the frames, both streaming (``ppgan.utils.video.read_frames``): ``follow_faces``
finds and follows the faces and smooths their quads over time (``track``); ``aligned_frames``
then yields each frame with its crops. Crops written to disk are named by ``video_crop_name``
(``<stem>_<frame:06d>_aligned.png``, ``_aligned_<k>.png`` for the k-th followed face) with the
photo path's JSON beside them plus the frame index (``paste.save_alignment``). ``paste_video``
puts such crops (edited or not) back: one H.264 MP4 with the input's frame count, rate, size
and audio, frames without a crop copied through.
"""
import os
import re
import shutil
import sys

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..utils.errors import UserError
from ..utils.fileio import make_dirs, remove_dirs, temporary_dir
from ..utils.video import VideoWriter, finish_video, read_frames
from .align import MIN_FACE_SIZE, AlignedFace, sampled_quad, warp_quad
from .images import load_rgb
from .paste import alignment_json_path, load_alignment, paste_faces
from .track import SMOOTHING_WINDOW, track_faces


def video_crop_name(stem, frame, face=0):
    """File name of the crop of followed face ``face`` in frame ``frame``: ``<stem>_<frame:06d>_aligned[_<face>].png``."""
    return f"{stem}_{frame:06d}_aligned{'' if face == 0 else f'_{face}'}.png"


def video_stem(info):
    """The name of a video without folder and extension: what its crops and outputs are named after."""
    return os.path.splitext(os.path.basename(info.path))[0]


def follow_faces(info, detector, max_faces=1, window=SMOOTHING_WINDOW, progress=True):
    """First pass: the ``FaceTrack`` of a probed video and its smoothed quads (per frame, per face: [4,2] or None).

    Quads whose side is under ``MIN_FACE_SIZE`` frame pixels are dropped (None): too small to align.
    ``progress``: a bar on stderr (frames, frames per second, ETA).
    """
    with tqdm(read_frames(info), total=info.frame_count, desc="finding faces", unit="frame", file=sys.stderr,
              disable=not progress) as frames:
        track = track_faces(frames, detector, max_faces)
    smoothed = [[quad if quad is not None and np.hypot(*(quad[3] - quad[0])) >= MIN_FACE_SIZE else None
                 for quad in frame] for frame in track.smoothed(window)]
    return track, smoothed


def aligned_frames(info, quads, size, face_counts=None, start=0, supersample=None):
    """Second pass: yield ``(index, frame, faces)`` from frame ``start`` on, streaming.

    quads: per frame, per followed face, a quad [4,2] or None (``follow_faces``); frame: uint8 RGB
    [H, W, 3]; faces: per followed face an ``AlignedFace`` (``size`` square crop, its sampled quad,
    ``landmarks`` None: the quad is smoothed over time, not one frame's landmarks) or None.
    """
    for index, frame in enumerate(read_frames(info, start), start):
        image = Image.fromarray(frame)
        count = face_counts[index] if face_counts is not None else sum(q is not None for q in quads[index])
        faces = [None if quad is None else
                 AlignedFace(warp_quad(image, quad, size, supersample), None, sampled_quad(image.size, quad, size),
                             count, face, image.size)
                 for face, quad in enumerate(quads[index])]
        yield index, frame, faces


def find_video_crops(folder, info, arg="{paste_back}"):
    """{frame index: [(face, crop path, quad [4,2])]} of the crops of this video in ``folder``, checked first.

    Every crop ``video_crop_name`` names must have its JSON beside it, made from this video (same
    name, frame size and frame index). UserError (naming ``arg``) for a missing folder, a folder
    without crops of this video, and a crop whose record does not fit.
    """
    if not os.path.isdir(folder):
        raise UserError(f"{folder} is not a folder; pass the folder of the video's crops with {arg}")
    stem = video_stem(info)
    pattern = re.compile(rf"^{re.escape(stem)}_(\d{{6}})_aligned(?:_(\d+))?\.png$")
    crops = {}
    for name in sorted(os.listdir(folder)):
        match = pattern.match(name)
        if not match:
            continue
        frame, face = int(match.group(1)), int(match.group(2) or 0)
        path = os.path.join(folder, name)
        record_path = alignment_json_path(path)
        if not os.path.isfile(record_path):
            raise UserError(f"crop {path} has no alignment record {os.path.basename(record_path)} beside it; "
                            f"pass the folder written by face_align.py {{input_video}} to {arg}")
        record = load_alignment(record_path)
        if (record["source"] != os.path.basename(info.path) or record["photo_size"] != tuple(info.size)
                or record.get("frame") != frame or frame >= info.frame_count):
            raise UserError(f"crop {path} was not made from frame {frame} of {info.path} (its record says "
                            f"{record['source']}, frame {record.get('frame')}, {record['photo_size']}); "
                            f"pass the folder of this video's crops with {arg}")
        crops.setdefault(frame, []).append((face, path, record["quad"]))
    if not crops:
        raise UserError(f"{folder} has no crops of {os.path.basename(info.path)} ({stem}_NNNNNN_aligned.png); "
                        f"pass the folder written by face_align.py {{input_video}} to {arg}")
    return crops


def _load_crop(path):
    """An aligned crop as uint8 RGB [S, S, 3]; UserError when it is not square."""
    crop = np.asarray(load_rgb(path))
    if crop.shape[0] != crop.shape[1]:
        raise UserError(f"crop {path} is {crop.shape[1]}x{crop.shape[0]}, not square; "
                        "pass aligned crops (face_align.py) or edits of them")
    return crop


def paste_video(info, crops, target, colour_match=False, progress=True, arg="{output_path}"):
    """Paste ``find_video_crops`` crops back into their frames and write ``target``: one H.264 MP4, all or nothing.

    The output has the input's frame count, rate, size and audio (copied); frames without a crop
    are copied through (re-encoded). The frames are encoded into one chunk in a hidden folder
    beside ``target`` and joined with the audio by ``finish_video``; the folder is removed
    however the run ends. Returns the number of frames with a crop pasted.
    """
    output_dir = os.path.dirname(os.path.abspath(target))
    created = make_dirs(output_dir)
    work = None
    try:
        work = temporary_dir(output_dir, video_stem(info))
        chunk = os.path.join(work, "frames.mp4")
        with VideoWriter(chunk, info.fps, info.size, arg=arg) as writer, \
                tqdm(total=info.frame_count, desc="pasting", unit="frame", file=sys.stderr,
                     disable=not progress) as bar:
            for index, frame in enumerate(read_frames(info)):
                if index in crops:
                    faces = sorted(crops[index])
                    frame, _ = paste_faces(frame, [_load_crop(path) for _, path, _ in faces],
                                           [quad for _, _, quad in faces], colour_match)
                writer.write(frame)
                bar.update(1)
        finish_video([chunk], target, audio_from=info.path, arg=arg)
    except BaseException:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
            work = None
        remove_dirs(created)
        raise
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    return len(crops)

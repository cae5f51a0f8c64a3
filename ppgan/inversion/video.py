"""A video's faces edited frame by frame: follow the faces, then per chunk of frames invert, edit, paste, encode.

Pass 1 follows the faces through the video and smooths their crops over time
(``ppgan.faceutils.track``); its quads are saved in the work folder, so a resumed run
skips it. Pass 2 streams the frames a chunk (``CHUNK_FRAMES``) at a time: each followed
face is cropped at its smoothed quad, inverted into W+, edited at every strength,
rendered and pasted back into its frame with the photo path's feathered mask; a frame
without a face is written through. Each chunk becomes one H.264 file per strength,
which appears whole or not at all, so a killed run resumes at the first chunk missing.
At the end the chunks of each strength are joined with the input's audio, every output
is renamed into place and the work folder removed: the outputs appear only when all
are complete.
"""
import os
import shutil
import sys

import numpy as np
from tqdm import tqdm

from ..faceutils.paste import paste_faces
from ..faceutils.video_faces import aligned_frames
from ..models.generators.generator_pixel2style2pixel import INPUT_SIZE
from ..utils.errors import UserError
from ..utils.fileio import atomic_path
from ..utils.video import VideoWriter, finish_video

CHUNK_FRAMES = 16
QUADS_NAME = "quads.npy"


def video_edit_names(stem, strengths):
    """The edited videos of ``<stem>``: ``<stem>.edited_{strength}.mp4``, one per strength."""
    return [f"{stem}.edited_{strength:g}.mp4" for strength in strengths]


def work_folder(output_path, stem):
    """Where an edit of video ``<stem>`` keeps its quads and finished chunks until its outputs are complete."""
    return os.path.join(output_path, f".{stem}.edited.parts")


def chunk_path(work, strength_index, chunk):
    """The H.264 file of chunk ``chunk`` (frames ``chunk * CHUNK_FRAMES`` on) at the strength of index ``strength_index``."""
    return os.path.join(work, f"s{strength_index}_{chunk:06d}.mp4")


def saved_quads(work, info, find_quads):
    """Quads float64 [F, M, 4, 2] of the followed faces (NaN where a face is absent): read from ``work``,
    or found by ``find_quads(info)`` and saved there (atomically) for a resumed run. No face in any
    frame is a UserError, and nothing is saved."""
    path = os.path.join(work, QUADS_NAME)
    if os.path.isfile(path):
        quads = np.load(path, allow_pickle=False)
        if quads.ndim == 4 and quads.shape[0] == info.frame_count and quads.shape[2:] == (4, 2):
            return quads
    quads = np.asarray(find_quads(info), dtype=np.float64)
    if not np.isfinite(quads).any():
        raise UserError(f"no face found in any of the {info.frame_count} frames of {info.path}; "
                        "pass a video showing a face")
    with atomic_path(path) as tmp:
        np.save(tmp, quads)
    return quads


def first_missing_chunk(work, num_chunks, num_strengths):
    """The index of the first chunk not written at every strength (``num_chunks`` when all are)."""
    for chunk in range(num_chunks):
        if not all(os.path.isfile(chunk_path(work, k, chunk)) for k in range(num_strengths)):
            return chunk
    return num_chunks


def quads_array(quad_lists, num_faces):
    """Per frame, per face, a quad [4, 2] or None (``follow_faces``) -> float64 [F, M, 4, 2], NaN where absent."""
    quads = np.full((len(quad_lists), num_faces, 4, 2), np.nan)
    for frame, frame_quads in enumerate(quad_lists):
        for face, quad in enumerate(frame_quads[:num_faces]):
            if quad is not None:
                quads[frame, face] = quad
    return quads


def quad_lists(quads):
    """Quads float64 [F, M, 4, 2] (NaN where absent) -> per frame, per face, a quad [4, 2] or None."""
    return [[quad if np.isfinite(quad).all() else None for quad in frame] for frame in quads]


class VideoEditor:
    """Edits the followed faces of one video and writes one H.264 MP4 per strength.

    ``invert``: ``AlignedFace`` list -> W+ float32 [N, n_latent, style_dim]; ``render``: W+ [N, ...] -> the
    faces' edits, uint8 [N, K, S, S, 3] (one per strength); ``colour_match``: see ``paste_face``.
    """

    def __init__(self, invert, render, colour_match=False):
        self.invert, self.render = invert, render
        self.colour_match = colour_match

    def edit_chunk(self, frames, faces, num_strengths):
        """Frames uint8 [F, H, W, 3] and their faces (per frame, per followed face: a 256 px ``AlignedFace`` or
        None) -> the edited frames, uint8 [K, F, H, W, 3] (K = ``num_strengths``); a frame without a face is
        repeated as it is."""
        faces = [[face for face in frame_faces if face is not None] for frame_faces in faces]
        crops = [face for frame_faces in faces for face in frame_faces]
        edits = self.render(self.invert(crops)) if crops else None
        edited, first = [], 0
        for frame, frame_faces in zip(frames, faces):
            if not frame_faces:
                edited.append(np.repeat(frame[None], num_strengths, axis=0))
                continue
            face_edits = edits[first:first + len(frame_faces)]
            first += len(frame_faces)
            edited.append(np.stack([paste_faces(frame, face_edits[:, k], [face.quad for face in frame_faces],
                                                self.colour_match)[0] for k in range(num_strengths)]))
        return np.stack(edited, axis=1)

    def __call__(self, info, quads, outputs, work):
        """Edit the video of ``info`` (a ``VideoInfo``) into ``outputs`` (one path per strength), resuming from
        ``work``. ``quads``: float64 [F, M, 4, 2] of the followed faces, NaN where absent (``saved_quads``).
        Returns (frames with a face, frames without)."""
        num_chunks = -(-info.frame_count // CHUNK_FRAMES)
        start = first_missing_chunk(work, num_chunks, len(outputs))
        with tqdm(total=info.frame_count, initial=start * CHUNK_FRAMES, desc="editing video", unit="frame",
                  file=sys.stderr) as bar:
            frames = aligned_frames(info, quad_lists(quads), INPUT_SIZE, start=start * CHUNK_FRAMES)
            try:
                for chunk in range(start, num_chunks):
                    count = min(CHUNK_FRAMES, info.frame_count - chunk * CHUNK_FRAMES)
                    _, chunk_frames, chunk_faces = zip(*(next(frames) for _ in range(count)))
                    self.write_chunk(work, chunk, self.edit_chunk(np.stack(chunk_frames), chunk_faces, len(outputs)),
                                     info)
                    bar.update(count)
            finally:
                frames.close()
        finished = [os.path.join(work, f"joined_{k}.mp4") for k in range(len(outputs))]
        for k, path in enumerate(finished):
            finish_video([chunk_path(work, k, chunk) for chunk in range(num_chunks)], path, audio_from=info.path)
        for path, output in zip(finished, outputs):
            os.replace(path, output)
        shutil.rmtree(work)
        with_face = int(np.isfinite(quads).all(axis=(2, 3)).any(axis=1).sum())
        return with_face, info.frame_count - with_face

    def write_chunk(self, work, chunk, edited, info):
        """Write one chunk's edited frames (uint8 [K, F, H, W, 3]) as one H.264 file per strength."""
        for k, frames in enumerate(edited):
            with VideoWriter(chunk_path(work, k, chunk), info.fps, info.size) as writer:
                for frame in frames:
                    writer.write(frame)

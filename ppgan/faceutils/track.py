"""Faces followed through a video, and their FFHQ alignment smoothed over time.

``track_faces`` detects the faces of every frame and follows them: the largest face of the
first frame with a face becomes face 0, the next largest ones faces 1.. (up to ``max_faces``;
a face slot still empty takes the largest face nobody follows when one appears). From frame
to frame each followed face takes the detection nearest to where it was last seen (box
centres, nearest pairs first), if that is within ``MAX_JUMP`` box widths per frame elapsed; a
face not found in a frame has no quad there. Only the quads are kept (64 bytes per face and
frame), so the frames can stream.

Alignment per frame jitters by a fraction of a pixel (the landmarks do), which makes a crop
of a still head shake. ``smooth_quads`` replaces each quad by a local linear regression of
the quads of the frames around it (tricube weights over ``window`` frames each side): a still
face gives one crop, a face moving at constant speed gives exactly its own quads back (a
linear motion is kept exactly, at the ends and around gaps too, the fit being one-sided
there), and the noise of single frames averages out. The quads are squares (``ffhq_quad``)
and a weighted sum of squares with weights summing to 1 is a square, so the smoothed quads
are FFHQ quads too.
"""
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .align import ffhq_quad

MAX_JUMP = 0.5  # box widths a followed face may move per frame (from where it was last seen)
MAX_JUMP_TOTAL = 2.0  # ... and at most this many box widths however long it was lost
CUT_JUMP = 0.2  # box widths per frame beyond which a move is a cut: the smoothing starts afresh
SMOOTHING_WINDOW = 6  # frames on each side of a frame in the regression of its quad


@dataclass
class FaceTrack:
    """The faces followed through a video.

    quads: per frame, a list (one per followed face, ``max_faces`` long) of float64 [4,2]
        FFHQ quads (``ffhq_quad`` of the frame's landmarks, frame pixels) or None where that face
        was not found; face_counts: faces detected per frame; segments: per frame, per face, the
        number of the face's segment (a new one after each cut) or None.
    """
    quads: list = field(default_factory=list)
    face_counts: list = field(default_factory=list)
    segments: list = field(default_factory=list)

    @property
    def frames_with_face(self):
        """Number of frames where at least one followed face was found."""
        return sum(any(q is not None for q in frame) for frame in self.quads)

    def smoothed(self, window=SMOOTHING_WINDOW):
        """Per frame, per followed face: the quad smoothed over time (``smooth_quads``) or None."""
        faces = len(self.quads[0]) if self.quads else 0
        per_face = [smooth_quads([frame[face] for frame in self.quads], window,
                                 [frame[face] for frame in self.segments] if self.segments else None)
                    for face in range(faces)]
        return [list(frame) for frame in zip(*per_face)]


class _FollowedFace:
    """Where a followed face was last seen: box centre [2], box width, frame index; its segment number."""

    def __init__(self, box, frame):
        self.centre, self.width, self.frame = (box[:2] + box[2:]) * 0.5, box[2] - box[0], frame
        self.segment = 0

    def seen(self, box, frame):
        """Found again at ``box`` in ``frame``: a move over ``CUT_JUMP`` widths per frame starts a new segment."""
        centre = (box[:2] + box[2:]) * 0.5
        if np.hypot(*(centre - self.centre)) > CUT_JUMP * self.width * (frame - self.frame):
            self.segment += 1
        self.centre, self.width, self.frame = centre, box[2] - box[0], frame

    def reach(self, frame):
        """How far (frame pixels) the face may be from its last position in ``frame``."""
        return self.width * min(MAX_JUMP * (frame - self.frame), MAX_JUMP_TOTAL)


def _assign(followed, boxes, frame):
    """{slot: box index}: each followed face takes the nearest detection within its reach, nearest pairs first."""
    pairs = []
    for slot, face in enumerate(followed):
        if face is not None:
            distances = np.hypot(*((boxes[:, :2] + boxes[:, 2:]) * 0.5 - face.centre).T)
            pairs += [(distance, slot, index) for index, distance in enumerate(distances)
                      if distance <= face.reach(frame)]
    assigned, taken = {}, set()
    for _, slot, index in sorted(pairs):
        if slot not in assigned and index not in taken:
            assigned[slot] = index
            taken.add(index)
    free = [index for index in range(len(boxes)) if index not in taken]  # largest first, as the boxes are
    for slot, face in enumerate(followed):
        if face is None and free:
            assigned[slot] = free.pop(0)
    return assigned


def track_faces(frames, detector, max_faces=1):
    """Follow up to ``max_faces`` faces through ``frames`` (an iterable of uint8 RGB [H,W,3]); a ``FaceTrack``.

    detector: a ``LandmarkDetector``. Frames are used one at a time (wrap the iterable in a
    progress bar to show progress); landmarks are fitted only for the followed faces.
    """
    track = FaceTrack()
    followed = [None] * max_faces
    for index, frame in enumerate(frames):
        image = Image.fromarray(np.asarray(frame, dtype=np.uint8))
        boxes = detector.detect_faces(image)
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        boxes = boxes[np.argsort(-areas, kind="stable")]
        quads, segments = [None] * max_faces, [None] * max_faces
        for slot, box_index in _assign(followed, boxes, index).items():
            box = boxes[box_index]
            if followed[slot] is None:
                followed[slot] = _FollowedFace(box, index)
            else:
                followed[slot].seen(box, index)
            quads[slot] = ffhq_quad(detector.landmarks(image, box))
            segments[slot] = followed[slot].segment
        track.quads.append(quads)
        track.segments.append(segments)
        track.face_counts.append(len(boxes))
    return track


def smooth_quads(quads, window=SMOOTHING_WINDOW, segments=None):
    """Quads [4,2] (None: no face in that frame) smoothed over time: a list of the same length.

    Each quad becomes the value at its frame of a weighted linear fit (in time) to the quads
    within ``window`` frames of it and of its segment (``segments``: a number per frame, e.g.
    ``FaceTrack.segments``; None: one segment), tricube weights; frames without a quad stay None.
    Linear motion is kept exactly, also at the ends and next to gaps; one quad alone is kept as it is.
    """
    times = np.array([t for t, quad in enumerate(quads) if quad is not None])
    if len(times) == 0:
        return [None] * len(quads)
    values = np.stack([np.asarray(quads[t], dtype=np.float64).reshape(8) for t in times])
    labels = np.array([0 if segments is None else segments[t] for t in times])
    smoothed = [None] * len(quads)
    for position, t in enumerate(times):
        near = (np.abs(times - t) <= window) & (labels == labels[position])
        offsets = (times[near] - t).astype(np.float64)
        weights = (1.0 - (np.abs(offsets) / (window + 1)) ** 3) ** 3
        smoothed[t] = _local_linear(offsets, weights, values[near]).reshape(4, 2)
    return smoothed


def _local_linear(offsets, weights, values):
    """Value at offset 0 of the weighted least-squares line through ``values`` [N, D] at ``offsets`` [N]."""
    design = np.stack([np.ones_like(offsets), offsets], axis=1)
    if np.ptp(offsets) == 0:  # one frame: nothing to fit a slope to
        return np.average(values, axis=0, weights=weights)
    root = np.sqrt(weights)[:, None]
    solution, *_ = np.linalg.lstsq(design * root, values * root, rcond=None)
    return solution[0]

"""Faces followed through frames (ppgan.faceutils.track): by position, largest first, and smoothed over time."""
import os

import numpy as np
import pytest
from conftest import FIXTURES
from PIL import Image

from ppgan.faceutils import LandmarkDetector, load_rgb
from ppgan.faceutils.track import FaceTrack, smooth_quads, track_faces

SQUARE = np.array([[0, 0], [0, 100], [100, 100], [100, 0]], np.float64)


def test_linear_motion_is_kept_exactly_at_the_ends_and_around_gaps():
    moving = [SQUARE * (1 + 0.01 * t) + [1.37 * t, -0.21 * t] for t in range(30)]
    gapped = [None if t in (0, 1, 10, 11, 12, 29) else quad for t, quad in enumerate(moving)]
    for quads in (moving, gapped):
        smoothed = smooth_quads(quads)
        assert [q is None for q in smoothed] == [q is None for q in quads]
        np.testing.assert_allclose([q for q in smoothed if q is not None], [q for q in quads if q is not None],
                                   atol=1e-9)


def rms_step(quads):
    """RMS over frames and corners of the distance a corner moves from one frame to the next."""
    return np.sqrt(np.mean([np.sum((a - b) ** 2) / 4 for a, b in zip(quads[1:], quads[:-1])]))


def test_smoothing_does_not_reach_across_a_cut():
    first = [SQUARE + [2.0 * t, 0] for t in range(12)]
    second = [SQUARE * 1.5 + [300 - 1.0 * t, 40] for t in range(12)]
    smoothed = smooth_quads(first + second, segments=[0] * 12 + [1] * 12)
    np.testing.assert_allclose(smoothed, first + second, atol=1e-9)


def test_jitter_is_averaged_out_and_a_lone_quad_kept():
    rng = np.random.default_rng(0)
    still = [SQUARE + rng.normal(0, 0.5, 2) for _ in range(40)]
    assert rms_step(smooth_quads(still)) < rms_step(still) / 5
    np.testing.assert_array_equal(smooth_quads([None, SQUARE, None])[1], SQUARE)
    assert smooth_quads([None, None]) == [None, None]


def test_smoothed_squares_stay_squares():
    rng = np.random.default_rng(1)
    angles = rng.normal(0, 0.05, 20)
    quads = [(SQUARE - 50) @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T + 50 for a in angles]
    track = FaceTrack([[q] for q in quads], [1] * 20)
    for quad in (frame[0] for frame in track.smoothed()):
        x, y = quad[3] - quad[0], quad[1] - quad[0]
        np.testing.assert_allclose(y, [-x[1], x[0]], atol=1e-9)  # y is x turned by 90 degrees
        np.testing.assert_allclose(quad[2], quad[1] + x, atol=1e-9)


def two_faces(step):
    """720x400 frame: a face of 300 px on the left, one growing from 180 px (step 0) to 340 px (step 4) on the right."""
    left = load_rgb(os.path.join(FIXTURES, "ffhq_e4e_0.jpg")).resize((300, 300), Image.Resampling.LANCZOS)
    side = 180 + 40 * step
    right = load_rgb(os.path.join(FIXTURES, "ffhq_e4e_1.jpg")).resize((side, side), Image.Resampling.LANCZOS)
    frame = Image.new("RGB", (720, 400), (120, 120, 120))
    frame.paste(left, (10, 50))
    frame.paste(right, (360, 30))
    return np.asarray(frame)


@pytest.fixture(scope="module")
def detector():
    return LandmarkDetector()


def test_faces_are_followed_by_position_not_by_size(detector):
    blank = np.full((400, 720, 3), 120, np.uint8)
    frames = [blank] + [two_faces(step) for step in range(5)] + [blank, two_faces(4)]
    track = track_faces(frames, detector, max_faces=2)
    assert track.face_counts == [0, 2, 2, 2, 2, 2, 0, 2] and track.frames_with_face == 6
    assert [frame[0] for frame in track.segments] == [None, 0, 0, 0, 0, 0, None, 0]  # the left face stays put
    assert track.quads[0] == [None, None] and track.quads[6] == [None, None]
    centres = [[None if q is None else q.mean(axis=0)[0] for q in frame] for frame in track.quads]
    assert all(left < 360 < right for left, right in (c for c in centres if c[0] is not None))
    one = track_faces(frames, detector, max_faces=1)
    assert all(frame[0] is None or frame[0].mean(axis=0)[0] < 360 for frame in one.quads)  # the first largest

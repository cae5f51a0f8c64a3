"""face_align.py --input_video and --paste_back on videos: steady crops, faithful paste-back, audio, bad inputs."""
import fractions
import json
import os

import cv2
import numpy as np
import pytest
from conftest import FIXTURES, listing, tool_main
from PIL import Image
from test_video import audio_packets_md5, ffmpeg, psnr

from ppgan.cli.common import run_cli
from ppgan.faceutils import LandmarkDetector, load_rgb, warp_quad
from ppgan.faceutils.track import track_faces
from ppgan.utils.video import VideoWriter, probe_video, read_frames

CANVAS = (480, 360)
BLANK_FRAMES = 3  # the clip starts with frames without a face
FACE_FRAMES = 37
STEP = (0.73, 0.31)  # sub-pixel motion of the face per frame
RATE = fractions.Fraction(25)


def canvas_frames(count, face_side=240):
    """``BLANK_FRAMES`` grey frames, then a fixture face moving by ``STEP`` px per frame: uint8 RGB [360, 480, 3]."""
    face = np.asarray(load_rgb(os.path.join(FIXTURES, "ffhq_e4e_0.jpg")).resize((face_side, face_side),
                                                                                Image.Resampling.LANCZOS))
    blank = np.empty((CANVAS[1], CANVAS[0], 3), np.uint8)
    blank[:] = (110, 120, 130)
    frames = [blank] * BLANK_FRAMES
    for t in range(count):
        shift = np.float32([[1, 0, 60 + STEP[0] * t], [0, 1, 50 + STEP[1] * t]])
        frames.append(cv2.warpAffine(face, shift, CANVAS, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT,
                                     borderValue=(110, 120, 130)))
    return frames


def write_test_video(path, frames, audio=True):
    """The frames as H.264 at -crf 0 (lossless in YUV 4:2:0), with 2 s of a 440 Hz sine as AAC audio."""
    silent = path + ".silent.mp4" if audio else path
    with VideoWriter(silent, RATE, CANVAS, crf=0) as writer:
        for frame in frames:
            writer.write(frame)
    if audio:
        ffmpeg("-i", silent, "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-map", "0:v", "-map", "1:a",
               "-c:v", "copy", "-c:a", "aac", "-movflags", "+faststart", path)
        os.remove(silent)


def gray(image):
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2GRAY).astype(np.float64)


def phase_shift(a, b, max_frequency=0.06):
    """Sub-pixel shift (dx, dy) of image ``b`` against ``a`` by phase correlation.

    The phase of the cross-power spectrum B * conj(A) of the Hann-windowed images is
    -2 pi (u dx + v dy); a weighted least-squares plane through it at the low frequencies
    (below ``max_frequency`` cycles per pixel, where resampling leaves the phase intact) gives
    the shift. cv2.phaseCorrelate's peak centroid reads 0.25 px shifts of these crops as 0.5-0.75.
    """
    a, b = gray(a), gray(b)
    window = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    cross = np.fft.fft2((b - b.mean()) * window) * np.conj(np.fft.fft2((a - a.mean()) * window))
    v, u = np.meshgrid(np.fft.fftfreq(a.shape[0]), np.fft.fftfreq(a.shape[1]), indexing="ij")
    radius = np.hypot(u, v)
    keep = (radius > 0) & (radius < max_frequency)
    root = np.sqrt(np.abs(cross[keep]))[:, None]
    design = np.stack([u[keep], v[keep]], axis=1) * (-2 * np.pi)
    shift, *_ = np.linalg.lstsq(design * root, np.angle(cross[keep])[:, None] * root, rcond=None)
    return shift.ravel()


def rms_shift(crops):
    """RMS length of the shifts between consecutive crops (px)."""
    shifts = [phase_shift(a, b) for a, b in zip(crops[:-1], crops[1:])]
    return float(np.sqrt(np.mean(np.sum(np.square(shifts), axis=1))))


def test_phase_shift_measures_sub_pixel_shifts():
    frame = canvas_frames(1)[-1]
    for dx, dy in ((0.25, 0.1), (0.5, -0.3), (1.3, 0.0)):
        moved = cv2.warpAffine(frame, np.float32([[1, 0, dx], [0, 1, dy]]), CANVAS, flags=cv2.INTER_CUBIC,
                               borderValue=(110, 120, 130))
        np.testing.assert_allclose(phase_shift(frame, moved), (dx, dy), atol=0.06)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """(path, frames) of a 40-frame 480x360 clip with audio: 3 frames without a face, then a translating face."""
    frames = canvas_frames(FACE_FRAMES)
    path = str(tmp_path_factory.mktemp("video") / "clip.mp4")
    write_test_video(path, frames)
    return path, frames


def run_tool(argv, capsys):
    """Run face_align.py in-process as the script does; (exit status, stdout, stderr)."""
    try:
        run_cli(tool_main("face_align"), argv)
        status = 0
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def test_video_crops_are_steady_and_paste_back_faithfully_with_the_audio(clip, tmp_path, capsys):
    path, frames = clip
    crops_dir, pasted_dir = str(tmp_path / "crops"), str(tmp_path / "pasted")
    status, out, err = run_tool(["--input_video", path, "--output_path", crops_dir, "--size", "512"], capsys)
    assert status == 0, err
    assert f"{FACE_FRAMES} of {BLANK_FRAMES + FACE_FRAMES} frames with a face, {BLANK_FRAMES} without" in out
    face_frames = range(BLANK_FRAMES, BLANK_FRAMES + FACE_FRAMES)
    assert listing(crops_dir) == sorted(f"clip_{i:06d}_aligned.{ext}" for i in face_frames for ext in ("png", "json"))
    with open(os.path.join(crops_dir, "clip_000010_aligned.json")) as f:
        record = json.load(f)
    assert (record["source"], record["frame"], record["photo_size"], record["size"]) == ("clip.mp4", 10, [480, 360], 512)
    crops = [Image.open(os.path.join(crops_dir, f"clip_{i:06d}_aligned.png")) for i in face_frames]
    steady = rms_shift(crops)
    decoded = list(read_frames(probe_video(path)))
    track = track_faces(decoded[BLANK_FRAMES:], LandmarkDetector())
    per_frame = rms_shift([warp_quad(Image.fromarray(frame), quads[0], 512)
                           for frame, quads in zip(decoded[BLANK_FRAMES:], track.quads)])
    assert steady <= 0.25 < per_frame

    status, out, err = run_tool(["--input_video", path, "--paste_back", crops_dir, "--output_path", pasted_dir], capsys)
    assert status == 0, err
    assert f"{FACE_FRAMES} of {BLANK_FRAMES + FACE_FRAMES} frames with a face pasted back, {BLANK_FRAMES} copied" in out
    assert listing(pasted_dir) == ["clip_pasted.mp4"]
    source, pasted = probe_video(path), probe_video(os.path.join(pasted_dir, "clip_pasted.mp4"))
    assert (pasted.frame_count, pasted.fps, pasted.size, pasted.has_audio) == (40, RATE, CANVAS, True)
    assert audio_packets_md5(pasted.path) == audio_packets_md5(source.path)
    quality = [psnr(a, b) for a, b in zip(read_frames(pasted), decoded)]
    print(f"consecutive crops shift by {steady:.3f} px RMS (aligned per frame: {per_frame:.3f} px); "
          f"pasted frames against the input: PSNR min {min(quality):.1f} dB")
    assert min(quality) >= 30


def test_bad_videos_stop_with_one_line_and_write_nothing(clip, tmp_path, capsys):
    with open(clip[0], "rb") as f:
        data = f.read()
    (tmp_path / "truncated.mp4").write_bytes(data[:len(data) // 2])
    (tmp_path / "notes.mp4").write_text("not a video\n")
    write_test_video(str(tmp_path / "empty_room.mp4"), canvas_frames(0) * 3, audio=False)
    expected = {"truncated.mp4": "is truncated or damaged", "notes.mp4": "is not a video file",
                "empty_room.mp4": "no face found in any of the 9 frames of"}
    out_dir = tmp_path / "out"
    for name, message in expected.items():
        for extra in ([], ["--paste_back", str(tmp_path)]):
            status, _, err = run_tool(["--input_video", str(tmp_path / name), "--output_path", str(out_dir), *extra],
                                      capsys)
            if name == "empty_room.mp4" and extra:
                message = "has no crops of empty_room.mp4"
            *bars, last = err.rstrip("\n").split("\n")
            assert status == 2 and last.startswith("error: ") and all("\r" in bar for bar in bars), err
            assert message in last and name in last, err
            assert not out_dir.exists()

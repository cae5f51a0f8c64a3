"""A video in, its faces edited, a video out: styleganv2clip.py --input_video on small random models."""
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import paddle
import pytest

from conftest import FIXTURES, REPO_ROOT, raises_user_error

from ppgan.cli.edit import main as edit_main
from ppgan.faceutils import load_rgb
from ppgan.inversion.video import CHUNK_FRAMES, work_folder
from ppgan.models.generators import Pixel2Style2Pixel, StyleGANv2Generator
from ppgan.utils.video import VideoWriter, ffmpeg_executable, probe_video, read_frames

CHANNELS = {4: 32, 8: 32, 16: 16, 32: 8}
GENERATOR = {"size": 32, "style_dim": 512, "n_mlp": 2, "channels": CHANNELS}
GENERATOR_FLAGS = ["--size", "32", "--style_dim", "512", "--n_mlp", "2", "--channels", "4:32,8:32,16:16,32:8", "--cpu"]
STYLE_CHANNELS = 168
FACE_FRAMES, EMPTY_FRAMES = 22, 4  # the face crosses the canvas, then leaves it
FPS = "25"
CANVAS = (320, 240)


def moving_face_frames():
    """uint8 [F, 240, 320, 3]: a portrait (170 px tall) sliding right by 0.7 px a frame over grey, then grey only."""
    portrait = np.asarray(load_rgb(os.path.join(FIXTURES, "face_psp_input.jpg")))
    portrait = cv2.resize(portrait, (136, 170), interpolation=cv2.INTER_AREA)
    frames = []
    for index in range(FACE_FRAMES + EMPTY_FRAMES):
        canvas = np.full((CANVAS[1], CANVAS[0], 3), 118, np.uint8)
        if index < FACE_FRAMES:
            shift = np.float32([[1, 0, 60 + 0.7 * index], [0, 1, 35]])
            cv2.warpAffine(portrait, shift, CANVAS, dst=canvas, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_TRANSPARENT)
        frames.append(canvas)
    return np.stack(frames)


@pytest.fixture(scope="module")
def files(tmp_path_factory, random_clip_file):
    """Random generator, pSp (made for it: W+ [8, 512]), CLIP and directions; the test video, with a sine as audio."""
    root = tmp_path_factory.mktemp("video_edit")
    paths = {name: str(root / name) for name in ("generator.pdparams", "psp.pdparams", "fs3.pdparams")}
    paths["clip.pdparams"] = random_clip_file
    paddle.seed(0)
    paddle.save(StyleGANv2Generator(**GENERATOR).state_dict(), paths["generator.pdparams"])
    opts = dict(encoder_type="GradualStyleEncoder", input_nc=3, start_from_latent_avg=True, learn_in_w=False,
                **GENERATOR, channel_multiplier=2)
    paddle.seed(1)
    paddle.save(dict(Pixel2Style2Pixel(opts).state_dict(), opts=opts), paths["psp.pdparams"])
    fs3 = np.random.default_rng(0).standard_normal((STYLE_CHANNELS, 512)).astype(np.float32)
    paddle.save(paddle.to_tensor(fs3 / np.linalg.norm(fs3, axis=1, keepdims=True)), paths["fs3.pdparams"])
    frames = moving_face_frames()
    silent = str(root / "silent.mp4")
    with VideoWriter(silent, FPS, CANVAS, crf=0) as writer:
        for frame in frames:
            writer.write(frame)
    paths["video"] = str(root / "clip.mp4")
    seconds = len(frames) / float(FPS)
    subprocess.run([ffmpeg_executable(), "-v", "error", "-y", "-i", silent, "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={seconds}", "-map", "0:v", "-map", "1:a", "-c:v", "copy",
                    "-c:a", "aac", "-shortest", paths["video"]], check=True)
    return paths


def edit_argv(files, out, *extra):
    return ["--input_video", files["video"], "--weight_path", files["generator.pdparams"], *GENERATOR_FLAGS,
            "--direction_path", files["fs3.pdparams"], "--clip_weight_path", files["clip.pdparams"],
            "--psp_weight_path", files["psp.pdparams"], "--output_path", str(out), "--target", "smiling face",
            "--beta_threshold", "0.05", "--direction_offset", "3", *extra]


def decoded(path):
    """Every frame of a video, uint8 [F, H, W, 3]."""
    return np.stack(list(read_frames(probe_video(path))))


@pytest.fixture(scope="module")
def edited(files, tmp_path_factory):
    """The output folder of one uninterrupted edit of the test video."""
    out = tmp_path_factory.mktemp("edited")
    edit_main(edit_argv(files, out))
    return out


def test_the_edited_video_keeps_the_frames_rate_size_and_audio_of_the_input(files, edited):
    assert sorted(os.listdir(edited)) == ["clip.edited_3.mp4"]  # no work folder, lock or chunk left
    source, result = probe_video(files["video"]), probe_video(str(edited / "clip.edited_3.mp4"))
    assert (result.frame_count, result.fps, result.size) == (source.frame_count, source.fps, source.size)
    assert result.codec == "h264" and source.has_audio and result.has_audio
    frames, output = decoded(files["video"]), decoded(str(edited / "clip.edited_3.mp4"))
    change = np.abs(output.astype(np.int16) - frames).mean(axis=(1, 2, 3))
    assert (change[FACE_FRAMES:] < 1.5).all(), change  # no face: written through, within the codec's error
    assert (change[:FACE_FRAMES] > 2 * change[FACE_FRAMES:].max()).all(), change  # the faces were edited
    outside = np.ones(frames.shape[1:3], bool)
    outside[20:225, 50:220] = False  # far from the face's path: the photo's pixels, within the codec's error
    assert np.abs(output[:, outside].astype(np.int16) - frames[:, outside]).mean() < 1.5


def test_no_face_frames_are_counted_in_the_summary(files, tmp_path, capsys):
    edit_main(edit_argv(files, tmp_path / "out", "--direction_offset", "0", "2"))
    summary = [line for line in capsys.readouterr().out.splitlines() if line.startswith(files["video"])]
    assert summary and f"{FACE_FRAMES + EMPTY_FRAMES} frames, {FACE_FRAMES} with a face edited, {EMPTY_FRAMES} " \
        "without" in summary[0]
    assert sorted(os.listdir(tmp_path / "out")) == ["clip.edited_0.mp4", "clip.edited_2.mp4"]


def test_a_killed_run_resumes_and_gives_the_same_frames(files, edited, tmp_path):
    """SIGKILL once the first chunk is written; the second run resumes from it and its frames equal an
    uninterrupted run's."""
    assert FACE_FRAMES + EMPTY_FRAMES > CHUNK_FRAMES  # two chunks at least
    out = tmp_path / "out"
    script = os.path.join(REPO_ROOT, "applications", "tools", "styleganv2clip.py")
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    first_chunk = os.path.join(work_folder(str(out), "clip"), "s0_000000.mp4")
    run = subprocess.Popen([sys.executable, script, *edit_argv(files, out)], cwd=REPO_ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not os.path.exists(first_chunk):
        assert run.poll() is None, run.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert not os.path.exists(out / "clip.edited_3.mp4")  # nothing appears before it is complete
    resumed = subprocess.run([sys.executable, script, *edit_argv(files, out)], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(os.listdir(out)) == ["clip.edited_3.mp4"]
    np.testing.assert_array_equal(decoded(str(out / "clip.edited_3.mp4")),
                                  decoded(str(edited / "clip.edited_3.mp4")))


def test_bad_videos_are_one_line_errors_and_nothing_is_written(files, tmp_path):
    with open(files["video"], "rb") as f:
        content = f.read()
    (tmp_path / "truncated.mp4").write_bytes(content[:len(content) // 2])
    (tmp_path / "notes.mp4").write_text("not a video\n")
    empty = tmp_path / "empty.mp4"
    with VideoWriter(str(empty), FPS, CANVAS) as writer:
        for _ in range(5):
            writer.write(np.full((CANVAS[1], CANVAS[0], 3), 118, np.uint8))
    out = tmp_path / "out"
    for video, message in [("truncated.mp4", "truncated.mp4 is a truncated or damaged MP4"),
                           ("notes.mp4", "notes.mp4 is not a video file"),
                           ("empty.mp4", "no face found in any of the 5 frames of .*empty.mp4")]:
        argv = edit_argv(files, out)
        argv[1] = str(tmp_path / video)
        with raises_user_error(message):
            edit_main(argv)
        assert not out.exists() or os.listdir(out) == [], os.listdir(out)


def test_flags_a_video_cannot_take_are_refused(files, tmp_path):
    with raises_user_error("--refine_steps is not available with --input_video"):
        edit_main(edit_argv(files, tmp_path, "--refine_steps", "5"))
    with raises_user_error("--edit and --recipe are not available with --input_video"):
        edit_main(edit_argv(files, tmp_path, "--edit", "old face=2"))
    with raises_user_error("--sweep is not available with --input_video"):
        edit_main(edit_argv(files, tmp_path, "--sweep", "8"))
    with raises_user_error("pass one of --latent, --input_image and --input_video"):
        edit_main(edit_argv(files, tmp_path, "--latent", files["fs3.pdparams"]))

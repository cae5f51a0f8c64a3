"""Video I/O (ppgan.utils.video): round trips, exact seeking, chunks joined with the input's audio, bad files."""
import fractions
import os
import subprocess

import numpy as np
import pytest
from conftest import listing, raises_user_error

from ppgan.utils.errors import UserError
from ppgan.utils.video import (
    VideoWriter,
    ffmpeg_executable,
    finish_video,
    probe_video,
    read_frames,
)

RATE = fractions.Fraction(30000, 1001)


def ffmpeg(*args):
    """Run the package's ffmpeg quietly; fail the test on an error."""
    subprocess.run([ffmpeg_executable(), "-v", "error", "-nostdin", "-y", *args], check=True)


def smooth_frames(count, width, height):
    """``count`` uint8 RGB frames [height, width, 3] of smooth colour waves moving a little each frame."""
    y, x = np.mgrid[:height, :width].astype(np.float64)
    return [np.stack([128 + 100 * np.sin(x / 20 + i / 5), 128 + 100 * np.cos(y / 15 - i / 7),
                      128 + 60 * np.sin((x + y) / 30)], axis=-1).astype(np.uint8) for i in range(count)]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-10))


def write_chunks(folder, frames, size, chunk=32, crf=18):
    """Frames written as ``VideoWriter`` chunk files of ``chunk`` frames; their paths."""
    paths = []
    for start in range(0, len(frames), chunk):
        paths.append(os.path.join(folder, f"chunk_{start:06d}.mp4"))
        with VideoWriter(paths[-1], RATE, size, crf=crf) as writer:
            for frame in frames[start:start + chunk]:
                writer.write(frame)
    return paths


def audio_packets_md5(path):
    return subprocess.run([ffmpeg_executable(), "-v", "error", "-i", path, "-map", "0:a:0", "-c", "copy", "-f", "md5",
                           "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("size", [(320, 240), (321, 241)], ids=["even", "odd"])
def test_chunks_round_trip_count_rate_size_and_content(tmp_path, size):
    frames = smooth_frames(40, *size)
    chunks = write_chunks(str(tmp_path / "work"), frames, size)
    info = finish_video(chunks, str(tmp_path / "out" / "joined.mp4"))
    assert (info.frame_count, info.fps, info.size, info.has_audio, info.codec) == (40, RATE, size, False, "h264")
    assert probe_video(info.path) == info
    decoded = list(read_frames(info))
    assert len(decoded) == 40 and all(frame.shape == (size[1], size[0], 3) for frame in decoded)
    assert min(psnr(a, b) for a, b in zip(decoded, frames)) > 38
    assert listing(str(tmp_path / "out")) == ["joined.mp4"]


def test_reading_from_a_frame_index_is_exact(tmp_path):
    frames = smooth_frames(40, 96, 64)
    info = finish_video(write_chunks(str(tmp_path), frames, (96, 64), chunk=16), str(tmp_path / "v.mp4"))
    everything = list(read_frames(info))
    for start in (1, 17, 39, 40):
        resumed = list(read_frames(info, start))
        assert len(resumed) == 40 - start
        assert all(np.array_equal(a, b) for a, b in zip(resumed, everything[start:]))


def test_the_input_audio_is_copied_unchanged(tmp_path):
    source = str(tmp_path / "with_audio.mp4")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
           "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", source)
    info = probe_video(source)
    assert (info.frame_count, info.fps, info.size, info.has_audio) == (50, 25, (96, 64), True)
    chunks = write_chunks(str(tmp_path / "work"), list(read_frames(info)), info.size)
    joined = finish_video(chunks, str(tmp_path / "joined.mp4"), audio_from=source)
    assert joined.has_audio and joined.frame_count == 50
    assert audio_packets_md5(joined.path) == audio_packets_md5(source)
    silent = finish_video(chunks, str(tmp_path / "silent.mp4"), audio_from=chunks[0])
    assert not silent.has_audio


def test_the_same_frames_give_the_same_bytes(tmp_path):
    frames = smooth_frames(12, 96, 64)
    first, second = (write_chunks(str(tmp_path / name), frames, (96, 64))[0] for name in ("a", "b"))
    with open(first, "rb") as a, open(second, "rb") as b:
        assert a.read() == b.read()


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="stop"):
        with VideoWriter(str(tmp_path / "out" / "v.mp4"), RATE, (96, 64)) as writer:
            writer.write(smooth_frames(1, 96, 64)[0])
            raise RuntimeError("stop")
    with pytest.raises(ValueError, match=r"uint8 frame \[64, 96, 3\]"):
        with VideoWriter(str(tmp_path / "out" / "v.mp4"), RATE, (96, 64)) as writer:
            writer.write(np.zeros((64, 95, 3), np.uint8))
    with pytest.raises(UserError, match="no frames written"):
        with VideoWriter(str(tmp_path / "out" / "v.mp4"), RATE, (96, 64)):
            pass
    assert not os.path.exists(tmp_path / "out")


@pytest.fixture(scope="module")
def bad_videos(tmp_path_factory):
    """{what: path} of files that are not usable videos."""
    folder = tmp_path_factory.mktemp("bad")
    good = str(folder / "good.mp4")
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=25", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-movflags", "+faststart", good)
    with open(good, "rb") as f:
        data = f.read()
    files = {"missing": str(folder / "missing.mp4"), "folder": str(folder)}
    files["truncated"] = str(folder / "truncated.mp4")
    files["truncated, index at the end"] = str(folder / "cut.mp4")
    files["text"] = str(folder / "notes.mp4")
    files["unknown codec"] = str(folder / "unknown_codec.mp4")
    files["no video"] = str(folder / "sound.m4a")
    files["no streams"] = str(folder / "empty.mp4")
    with open(files["truncated"], "wb") as f:
        f.write(data[:len(data) * 2 // 3])
    ffmpeg("-i", good, "-c", "copy", str(folder / "index_last.mp4"))  # no faststart: the index (moov) follows the data
    with open(str(folder / "index_last.mp4"), "rb") as f, open(files["truncated, index at the end"], "wb") as cut:
        cut.write(f.read()[:len(data) * 2 // 3])
    with open(files["text"], "w") as f:
        f.write("this is not a video\n")
    with open(files["unknown codec"], "wb") as f:
        f.write(data.replace(b"avc1", b"zzz1"))
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", files["no video"])
    ffmpeg("-f", "lavfi", "-i", "color=size=64x64", "-frames:v", "0", "-c:v", "libx264", files["no streams"])
    return files


BAD = {"missing": r"video .*missing.mp4 does not exist; check --input_video",
       "folder": r"is a folder, not a video; pass a video file with --input_video",
       "truncated": r"truncated.mp4 is truncated or damaged \(ffmpeg: .+\); re-export",
       "truncated, index at the end": r"cut.mp4 is a truncated or damaged MP4/MOV file \(ffmpeg: moov atom not found\)",
       "text": r"notes.mp4 is not a video file ffmpeg can read .*; pass an MP4, MOV, MKV, AVI or WebM video",
       "unknown codec": r"unknown_codec.mp4 holds 'zzz1' video, a codec this ffmpeg cannot decode; convert it",
       "no video": r"sound.m4a has no video stream \(only aac audio\); pass a video with --input_video",
       "no streams": r"empty.mp4 has no video stream \(no streams at all\)"}


@pytest.mark.parametrize("what", list(BAD))
def test_bad_videos_are_one_line_errors(bad_videos, what):
    with raises_user_error(BAD[what]) as info:
        probe_video(bad_videos[what])
    assert "\n" not in str(info.value)

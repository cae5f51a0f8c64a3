"""Video files in and out, the one home of video I/O: probe, stream frames, write H.264 chunks, finish.

Everything runs through the ffmpeg binary of the ``imageio-ffmpeg`` package (libx264 and
AAC included), as a child process fed or read through pipes; frames stream, so memory does
not grow with the length of a video. Frames are uint8 RGB numpy arrays [H, W, 3].

Written videos are H.264 (libx264, yuv420p, BT.709 tagged, limited range) in MP4 with
``+faststart``: what browsers play. 4:2:0 video has even sides only, so a frame of odd
width or height is stored with its last column or row repeated once, and the true size
goes in the file's comment tag (``ppgan_video_size=WxH``); ``probe_video`` reports the true
size and ``read_frames`` crops the repeated pixels off, so frames round-trip at their size
(other players show the one extra pixel).
"""
import collections
import contextlib
import fractions
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

from .errors import UserError
from .fileio import atomic_path

VideoInfo = collections.namedtuple("VideoInfo", "path frame_count fps size has_audio codec stream decoded_size",
                                   defaults=(0, None))
VideoInfo.__doc__ = """What ``probe_video`` found in a video file.

path: the file; frame_count: int, frames decoded (exact); fps: fractions.Fraction, the exact
frame rate; size: (width, height) of the frames ``read_frames`` yields; has_audio: bool;
codec: ffmpeg's name of the video codec (e.g. "h264"); stream: index of the video stream
read; decoded_size: (width, height) as decoded, one more than ``size`` on an odd side of a
video written by ``VideoWriter`` (None: equal to ``size``).
"""

SIZE_TAG = "ppgan_video_size"
DEFAULT_CRF = 18  # x264 constant quality: 18 is visually lossless for most footage; 0 is lossless (in YUV)
_STREAM = re.compile(r"^\s*Stream #0:(\d+)[^:]*: (Video|Audio): (\S+)(.*)$", re.M)
_SIZE_TAG = re.compile(rf"^\s*comment\s*:\s*{SIZE_TAG}=(\d+)x(\d+)\s*$", re.M)


def ffmpeg_executable():
    """Path of the ffmpeg binary shipped by ``imageio-ffmpeg``; UserError naming the fix when it is missing."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise UserError("video needs the imageio-ffmpeg package; run `pip install imageio-ffmpeg==0.8.1`") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


def _first_line(stderr, default="no message"):
    """The first line of ffmpeg's messages that reports an error (else the first line), without its [context] prefix."""
    lines = [re.sub(r"^(\[[^\]]*\] )+", "", line.strip()) for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"not found|invalid|error|partial", line, re.I)]
    return (errors or lines or [default])[0]


def _unreadable(path, stderr, arg):
    """UserError for a file ffmpeg cannot open: a damaged MP4/MOV (it has the 'ftyp' box) or not a video at all."""
    with open(path, "rb") as f:
        head = f.read(12)
    reason = _first_line(stderr)
    if head[4:8] == b"ftyp":
        return UserError(f"video {path} is a truncated or damaged MP4/MOV file (ffmpeg: {reason}); "
                         f"re-export or re-download it, or pass another {arg}")
    return UserError(f"{path} is not a video file ffmpeg can read (ffmpeg: {reason}); pass an MP4, MOV, MKV, "
                     f"AVI or WebM video with {arg}")


def probe_video(path, arg="{input_video}"):
    """The ``VideoInfo`` of a video file; one-line UserError (naming the file and ``arg``) when it cannot be used.

    Refused: a missing path, a folder, a file that is not a video (e.g. text named .mp4), a
    truncated or damaged file (any decoding error), a file without a video stream or without
    frames, and a codec this ffmpeg cannot decode. The frame count and the frame size are
    those of a full decode (``-fps_mode passthrough``, rotation applied, as ``read_frames``
    yields them), so probing decodes every frame once: 2.4 s for 960 H.264 frames of 480x360
    on a shared 2-core machine (2.5 ms a frame; time grows with the pixel count).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"video {path} does not exist; check {arg}")
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder, not a video; pass a video file with {arg}")
    exe = ffmpeg_executable()
    header = subprocess.run([exe, "-hide_banner", "-nostdin", "-i", path], capture_output=True, text=True,
                            errors="replace").stderr
    if "Input #0" not in header:
        raise _unreadable(path, header, arg)
    streams = [m for m in _STREAM.finditer(header) if "(attached pic)" not in m.group(4)]
    video = next((m for m in streams if m.group(2) == "Video"), None)
    if video is None:
        found = f"only {', '.join(m.group(3) for m in streams)} audio" if streams else "no streams at all"
        raise UserError(f"{path} has no video stream ({found}); pass a video with {arg}")
    stream, codec = int(video.group(1)), video.group(3).rstrip(",")
    counted = subprocess.run([exe, "-v", "error", "-nostdin", "-i", path, "-map", f"0:{stream}",
                              "-fps_mode", "passthrough", "-f", "framecrc", "-"],
                             capture_output=True, text=True, errors="replace")
    if "decoder" in counted.stderr.lower() or codec == "none":
        tag = re.match(r"\s*\((\S+) /", video.group(4))
        name = codec if codec != "none" or not tag else f"'{tag.group(1)}'"
        raise UserError(f"{path} holds {name} video, a codec this ffmpeg cannot decode; convert it to H.264 "
                        f"(e.g. `ffmpeg -i VIDEO -c:v libx264 out.mp4`) and pass that with {arg}")
    if counted.returncode != 0 or counted.stderr.strip():
        raise _unreadable(path, counted.stderr, arg) if counted.returncode else UserError(
            f"video {path} is truncated or damaged (ffmpeg: {_first_line(counted.stderr)}); "
            f"re-export or re-download it, or pass another {arg}")
    frame_count = sum(1 for line in counted.stdout.splitlines() if line and not line.startswith("#"))
    if frame_count == 0:
        raise UserError(f"video {path} has no frames; pass a video with at least one frame with {arg}")
    tb_num, tb_den = re.search(r"^#tb 0: (\d+)/(\d+)$", counted.stdout, re.M).groups()
    width, height = (int(v) for v in re.search(r"^#dimensions 0: (\d+)x(\d+)$", counted.stdout, re.M).groups())
    size = decoded = (width, height)
    tagged = _SIZE_TAG.search(header)
    if tagged:
        true_size = (int(tagged.group(1)), int(tagged.group(2)))
        if tuple(s + s % 2 for s in true_size) == decoded:
            size = true_size
    return VideoInfo(path, frame_count, fractions.Fraction(int(tb_den), int(tb_num)), size,
                     any(m.group(2) == "Audio" for m in streams), codec, stream, decoded if decoded != size else None)


def read_frames(info, start=0):
    """Yield the frames of a probed video from frame index ``start`` on: uint8 RGB numpy [H, W, 3], (W, H) = info.size.

    Streams through an ffmpeg process (killed when the generator is closed). Seeking is
    exact: every frame is decoded and those before ``start`` dropped inside ffmpeg
    (``select=gte(n,start)``), so a resumed run reads the same frames; the time to the first
    frame grows with ``start`` (decoding only, about 2.5 ms per 480x360 frame). The pixels
    ``VideoWriter`` repeated on an odd side are cut off. A file that ends early or fails to
    decode raises UserError naming it.
    """
    if not 0 <= start <= info.frame_count:
        raise ValueError(f"start {start} is outside 0..{info.frame_count}")
    decoded_width, decoded_height = info.decoded_size or info.size
    width, height = info.size
    command = [ffmpeg_executable(), "-v", "error", "-nostdin", "-i", info.path, "-map", f"0:{info.stream}",
               "-fps_mode", "passthrough", *(["-vf", f"select=gte(n\\,{start})"] if start else []),
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL)
        try:
            for index in range(start, info.frame_count):
                frame = np.empty((decoded_height, decoded_width, 3), np.uint8)
                if process.stdout.readinto(memoryview(frame).cast("B")) < frame.nbytes:
                    process.wait()
                    errors.seek(0)
                    message = _first_line(errors.read().decode(errors="replace"), "the file ended")
                    raise UserError(f"video {info.path} stopped at frame {index} of {info.frame_count} ({message}); "
                                    "it changed since it was probed or is damaged: check the file")
                yield frame[:height, :width]
        finally:
            process.stdout.close()
            if process.poll() is None:
                process.kill()
            process.wait()


class VideoWriter:
    """Write frames to an H.264 MP4 file, all or nothing: ``with VideoWriter(path, fps, size) as writer: writer.write(frame)``.

    fps: the frame rate (a ``fractions.Fraction`` keeps 30000/1001 exact); size: (width, height)
    of every frame; crf: x264's constant quality (``DEFAULT_CRF``; 0: lossless in YUV); preset:
    x264's speed preset. The file is written under a temporary name and renamed when the
    block ends without an exception (a killed writer leaves no partial file; see
    ``utils.fileio``). Odd sides are stored padded by one repeated pixel (see the module).
    For the same frames and settings, with the same ffmpeg on the same machine, the bytes
    are the same (x264 is deterministic unless told otherwise).
    """

    def __init__(self, path, fps, size, crf=DEFAULT_CRF, preset="medium", arg="{output_path}"):
        self.path, self.fps, self.arg = os.fspath(path), fractions.Fraction(fps), arg
        self.size = (int(size[0]), int(size[1]))
        self.crf, self.preset = crf, preset
        self.frames_written = 0
        self._context = self._process = self._errors = None

    def __enter__(self):
        self._context = self._writing()
        return self._context.__enter__()

    def __exit__(self, exc_type, exc, traceback):
        return self._context.__exit__(exc_type, exc, traceback)

    def _command(self, target):
        width, height = self.size
        padded = (width + width % 2, height + height % 2)
        tag = _size_metadata(self.size) if padded != self.size else []
        return [ffmpeg_executable(), "-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                "-s", f"{padded[0]}x{padded[1]}", "-framerate", str(self.fps), "-i", "-",
                "-vf", "scale=out_color_matrix=bt709:out_range=tv", "-c:v", "libx264", "-preset", self.preset,
                "-crf", str(self.crf), "-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_primaries", "bt709",
                "-color_trc", "bt709", "-color_range", "tv", "-movflags", "+faststart", *tag, "-f", "mp4", target]

    @contextlib.contextmanager
    def _writing(self):
        with atomic_path(self.path, self.arg) as tmp, tempfile.TemporaryFile() as errors:
            self._process = subprocess.Popen(self._command(tmp), stdin=subprocess.PIPE, stderr=errors,
                                             stdout=subprocess.DEVNULL)
            self._errors = errors
            try:
                yield self
                self._process.stdin.close()
                if self._process.wait() != 0 or self.frames_written == 0:
                    raise self._failure()
            finally:
                if self._process.poll() is None:
                    self._process.kill()
                self._process.wait()
                with contextlib.suppress(OSError):
                    self._process.stdin.close()

    def _failure(self):
        self._errors.seek(0)
        message = _first_line(self._errors.read().decode(errors="replace"),
                              "no frames written" if self.frames_written == 0 else "ffmpeg stopped")
        return UserError(f"cannot write video {self.path} ({message}); pass another {self.arg}")

    def write(self, frame):
        """Append one frame: uint8 RGB numpy [H, W, 3] with (W, H) = ``size``."""
        frame = np.asarray(frame)
        width, height = self.size
        if frame.dtype != np.uint8 or frame.shape != (height, width, 3):
            raise ValueError(f"expected a uint8 frame [{height}, {width}, 3], got {frame.dtype} {list(frame.shape)}")
        if width % 2 or height % 2:
            frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).data)
        except BrokenPipeError:
            self._process.wait()
            raise self._failure() from None
        self.frames_written += 1


def finish_video(chunk_paths, output, audio_from=None, arg="{output_path}"):
    """Join H.264 chunk files (``VideoWriter`` outputs of one size and rate) into ``output``, all or nothing.

    The video is copied without re-encoding (ffmpeg's concat demuxer, ``-c copy``); the first
    audio stream of ``audio_from`` (the input video), when it has one, is copied unchanged, or
    re-encoded to AAC (with a note on stderr) if MP4 cannot hold its codec. ``output`` is written under
    a temporary name and renamed at the end. Returns the ``VideoInfo`` of ``output``, whose frame
    count is checked to be the sum of the chunks'. Probes every chunk and the output (a decode each).
    """
    if not chunk_paths:
        raise ValueError("finish_video needs at least one chunk")
    chunks = [probe_video(path, arg) for path in chunk_paths]
    first = chunks[0]
    for chunk in chunks[1:]:
        if (chunk.size, chunk.fps, chunk.codec) != (first.size, first.fps, first.codec):
            raise UserError(f"video chunk {chunk.path} is {chunk.size[0]}x{chunk.size[1]} {chunk.codec} at "
                            f"{chunk.fps} fps, unlike {first.path} ({first.size[0]}x{first.size[1]} {first.codec} at "
                            f"{first.fps} fps); remove the stale chunks and run again")
    audio = probe_audio(audio_from) if audio_from is not None else None
    metadata = _size_metadata(first.size) if first.decoded_size is not None else []
    with atomic_path(output, arg) as tmp, tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        listing.writelines(f"file '{_concat_quoted(os.path.abspath(chunk.path))}'\n" for chunk in chunks)
        listing.flush()
        joined = _join(listing, audio_from if audio else None, tmp, "copy", metadata)
        if joined.returncode != 0 and audio:
            print(f"note: MP4 cannot hold the {audio} audio of {audio_from} unchanged; it is re-encoded to AAC",
                  file=sys.stderr)
            joined = _join(listing, audio_from, tmp, "aac", metadata)
        if joined.returncode != 0:
            raise UserError(f"cannot write video {output} (ffmpeg: {_first_line(joined.stderr)}); pass another {arg}")
        result = probe_video(tmp, arg)
        expected = sum(chunk.frame_count for chunk in chunks)
        if result.frame_count != expected:
            raise RuntimeError(f"joined video has {result.frame_count} frames, not the chunks' {expected}")
    return result._replace(path=os.fspath(output))


def probe_audio(path):
    """Codec name of the first audio stream of a media file, None without audio (or when ffmpeg cannot open it)."""
    header = subprocess.run([ffmpeg_executable(), "-hide_banner", "-nostdin", "-i", os.fspath(path)],
                            capture_output=True, text=True, errors="replace").stderr
    audio = next((m for m in _STREAM.finditer(header) if m.group(2) == "Audio"), None)
    return audio.group(3).rstrip(",") if audio else None


def _size_metadata(size):
    """ffmpeg arguments tagging a file with the true (odd) frame size of its padded frames."""
    return ["-metadata", f"comment={SIZE_TAG}={size[0]}x{size[1]}"]


def _concat_quoted(path):
    """A path quoted for a line ``file '...'`` of ffmpeg's concat list."""
    return path.replace("'", "'\\''")


def _join(listing, audio_from, target, audio_codec, metadata):
    """Run ffmpeg's concat of the ``listing`` (an open concat list file) into ``target``, audio from ``audio_from``."""
    audio_input = ["-i", os.fspath(audio_from)] if audio_from else []
    audio_map = ["-map", "1:a:0", "-c:a", audio_codec] if audio_from else []
    if audio_codec == "aac":
        audio_map += ["-b:a", "192k"]
    command = [ffmpeg_executable(), "-v", "error", "-y", "-f", "concat", "-safe", "0",
               "-i", listing.name, *audio_input, "-map", "0:v:0", "-c:v", "copy",
               *audio_map, "-map_metadata", "-1", *metadata, "-movflags", "+faststart", "-f", "mp4", target]
    return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")

"""Seconds per video frame of ``styleganv2clip.py --input_video`` at 1024 px, stage by stage, with random weights.

    python benchmark/bench_video.py [--frames 12] [--size 1024] [--width 1280 --height 720]

A clip of a fixture portrait sliding across a canvas is written first; then each stage of
the video edit runs over all its frames as the tool runs it: find and follow the face
(dlib detection + landmarks, smoothing), align (decode, crop at the smoothed quad), invert (pSp,
IR-SE-50 at 256 px), edit (render the edited face: one strength), paste (feathered mask
into the frame) and encode (H.264). The random generator, pSp and direction file are
written to a temporary folder (CLIP is not needed: the text direction is random here).
Stage times are per frame, after one warm-up frame of invert and edit (oneDNN's first run).
"""
import argparse
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import paddle  # noqa: E402

from ppgan.apps.styleganv2clip_predictor import StyleGANv2ClipPredictor  # noqa: E402
from ppgan.faceutils import LandmarkDetector, load_rgb, paste_faces  # noqa: E402
from ppgan.faceutils.video_faces import aligned_frames, follow_faces  # noqa: E402
from ppgan.inversion import PhotoInverter  # noqa: E402
from ppgan.models.generators.generator_pixel2style2pixel import INPUT_SIZE  # noqa: E402
from ppgan.models.generators import Pixel2Style2Pixel, StyleGANv2Generator  # noqa: E402
from ppgan.utils.video import VideoWriter, probe_video  # noqa: E402

PORTRAIT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "face_input_img.jpg")


def processor():
    """The CPU's model name."""
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return names[0] if names else platform.processor()


def write_clip(path, frames, width, height):
    """A portrait (half the height) sliding right by 1.3 px a frame over grey, as H.264."""
    side = height // 2
    portrait = cv2.resize(np.asarray(load_rgb(PORTRAIT)), (side, side), interpolation=cv2.INTER_AREA)
    with VideoWriter(path, 25, (width, height)) as writer:
        for index in range(frames):
            canvas = np.full((height, width, 3), 118, np.uint8)
            shift = np.float32([[1, 0, width // 4 + 1.3 * index], [0, 1, height // 4]])
            cv2.warpAffine(portrait, shift, (width, height), dst=canvas, borderMode=cv2.BORDER_TRANSPARENT)
            writer.write(canvas)


def write_models(folder, size):
    """Random generator (config-f), pSp made for it and unit directions; their paths."""
    paths = {name: os.path.join(folder, name) for name in ("generator.pdparams", "psp.pdparams", "fs3.pdparams")}
    paddle.seed(0)
    generator = StyleGANv2Generator(size, 512, 8, 2)
    paddle.save(generator.state_dict(), paths["generator.pdparams"])
    rows = sum(generator.channels_lst[layer] for layer in generator.style_layers)
    fs3 = np.random.default_rng(0).standard_normal((rows, 512)).astype(np.float32)
    paddle.save(paddle.to_tensor(fs3 / np.linalg.norm(fs3, axis=1, keepdims=True)), paths["fs3.pdparams"])
    opts = dict(encoder_type="GradualStyleEncoder", input_nc=3, start_from_latent_avg=True, learn_in_w=False,
                size=size, style_dim=512, n_mlp=8, channel_multiplier=2)
    paddle.save(dict(Pixel2Style2Pixel(opts).state_dict(), opts=opts), paths["psp.pdparams"])
    return paths


def per_frame(seconds, frames):
    return f"{seconds / frames:7.3f} s/frame"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clip = os.path.join(folder, "clip.mp4")
        write_clip(clip, args.frames, args.width, args.height)
        paths = write_models(folder, args.size)
        info = probe_video(clip)
        predictor = StyleGANv2ClipPredictor(folder, weight_path=paths["generator.pdparams"],
                                            direction_path=paths["fs3.pdparams"], clip_weight_path=paths["fs3.pdparams"])
        g = predictor.generator
        inverter = PhotoInverter(paths["psp.pdparams"], latent_shape=(g.n_latent, g.style_dim))
        delta_t = np.random.default_rng(1).standard_normal(512).astype(np.float32)
        direction = predictor.style_direction(delta_t / np.linalg.norm(delta_t), 0.05)
        times = {}

        def stage(name, fn, *fn_args):
            start = time.perf_counter()
            result = fn(*fn_args)
            times[name] = times.get(name, 0.0) + time.perf_counter() - start
            return result

        quads = stage("find and follow", lambda: follow_faces(info, LandmarkDetector(), 1, progress=False)[1])
        _, frames, faces = zip(*stage("align", lambda: list(aligned_frames(info, quads, INPUT_SIZE))))
        faces = [[face for face in frame_faces if face is not None] for frame_faces in faces]
        warm = faces[0][:1]
        predictor.render_edits(inverter.encode(warm), direction.delta_s, [3.0])  # first runs: oneDNN, programs
        latents = stage("invert", lambda: [inverter.encode(frame) for frame in faces])
        edits = stage("edit", lambda: [predictor.render_edits(latent, direction.delta_s, [3.0], source=False)[0][:, 0]
                                       for latent in latents])
        pasted = stage("paste", lambda: [paste_faces(frame, edit, [face.quad for face in frame_face])[0]
                                         for frame, edit, frame_face in zip(frames, edits, faces)])

        def encode():
            with VideoWriter(os.path.join(folder, "out.mp4"), info.fps, info.size) as writer:
                for frame in pasted:
                    writer.write(frame)

        stage("encode", encode)
        print(f"{processor()}, {os.cpu_count()} cores, Paddle {paddle.__version__}; {args.frames} frames of "
              f"{args.width}x{args.height}, generator {args.size} px, one face, one strength")
        for name, seconds in times.items():
            print(f"  {name:16s} {per_frame(seconds, args.frames)}")
        print(f"  {'total':16s} {per_frame(sum(times.values()), args.frames)}")


if __name__ == "__main__":
    main()

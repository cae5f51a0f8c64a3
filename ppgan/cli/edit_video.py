"""The edit command's ``--input_video`` path: the faces of a video followed, inverted, edited and pasted back.

Writes ``<stem>.edited_{strength}.mp4`` per strength into ``--output_path``: the input's
frame count, rate, size and audio, H.264 in MP4. Work in progress lives in
``.<stem>.edited.parts/`` there (a killed run resumes from it) under a lock file, so two
runs never write the same outputs.
"""
import os

from ..faceutils.video_faces import follow_faces
from ..inversion import PhotoInverter
from ..inversion.video import VideoEditor, quads_array, saved_quads, video_edit_names, work_folder
from ..utils.errors import UserError
from ..utils.fileio import check_output_files, check_writable_dir
from ..utils.locks import hold_lock
from ..utils.video import probe_video


def check_video_args(args):
    """The ``VideoInfo`` of ``--input_video``, after the flags a video cannot take are refused (one line each)."""
    if args.latent is not None or args.input_image is not None:
        raise UserError("pass one of --latent, --input_image and --input_video, not several")
    if args.edit or args.recipe:
        raise UserError("--edit and --recipe are not available with --input_video; give its one edit with --target "
                        "and --direction_offset")
    if args.sweep is not None:
        raise UserError("--sweep is not available with --input_video (each strength is a video of its own); "
                        "leave it out")
    if args.refine_steps:
        raise UserError("--refine_steps is not available with --input_video (it would fit every frame); "
                        "leave it out")
    return probe_video(args.input_video, "--input_video")


def edit_video(predictor, args, strengths, beta, psp, info):
    """Follow the faces of the video ``info`` (``--max_faces`` of them, largest first), edit them at every strength
    and write one MP4 per strength; returns the ``EditDirection``."""
    stem = os.path.splitext(os.path.basename(args.input_video))[0]
    outputs = [os.path.join(args.output_path, name) for name in video_edit_names(stem, strengths)]
    work = work_folder(args.output_path, stem)
    check_writable_dir(args.output_path)
    if not os.path.isdir(work):  # a resumed run may find the outputs its interrupted last step renamed
        check_output_files(outputs)
    g = predictor.generator
    inverter = PhotoInverter(landmark_model=args.landmark_model, latent_shape=(g.n_latent, g.style_dim), spec=psp,
                             generator_name=args.weight_path or f"the {predictor.spec.name} generator")

    def find_quads(video):
        return quads_array(follow_faces(video, inverter.psp.aligner.detector, args.max_faces)[1], args.max_faces)

    def refused(owner):
        return UserError(f"{args.input_video} is being edited into {args.output_path} by process {owner.get('pid')} "
                         f"(lock {work}.lock); wait for it to finish, or pass another --output_path")

    with hold_lock(f"{work}.lock", refused):
        quads = saved_quads(work, info, find_quads)  # before CLIP loads: a video without a face stops here
        direction = predictor.style_direction(predictor.text_direction.delta_t(args.neutral, args.target), beta)

        def render(latents):
            return predictor.render_edits(latents, direction.delta_s, strengths, source=False)[0]

        with_face, without_face = VideoEditor(inverter.encode, render, args.match_colours)(info, quads, outputs, work)
    print(f"{args.input_video}: {info.frame_count} frames, {with_face} with a face edited, {without_face} without "
          f"(written through) -> {', '.join(outputs)}")
    return direction

"""The edit command (``applications/tools/styleganv2clip.py``, ``styleganv2clip_predictor.py edit``).

Without ``--input_image`` the faces come from ``--latent`` or ``--seed`` and the predictor's
``run`` edits them; with it, every face of every photo is aligned, inverted (pSp, optionally
refined by fitting), edited with the same text and strengths and pasted back.
"""
import argparse
import os
import sys

from ..apps.styleganv2clip_predictor import StyleGANv2ClipPredictor
from ..faceutils import collect_images, load_rgb
from ..inversion import InvertedPhoto, PhotoInverter, load_latent_file
from ..inversion.fitting import build_fitter
from ..models.zoo import ENCODERS, inverter_spec
from ..styleclip.compose import (
    check_edits,
    composition_name,
    parse_edit,
    read_recipe,
    shared_channels,
)
from ..styleclip.edit import (
    DEFAULT_BETA,
    DEFAULT_STRENGTH,
    MAX_STRENGTH,
    as_beta,
    as_strengths,
    channel_summary,
    check_texts,
)
from ..styleclip.outputs import (
    DST_NAME,
    SRC_NAME,
    STRIP_NAME,
    STYLES_NAME,
    face_folders,
    output_files,
    photo_edit_names,
    photo_sweep_stem,
    strength_file_name,
)
from ..styleclip.sweep import (
    SWEEP_FPS,
    SWEEP_NAME,
    check_sweep,
    sweep_paths,
    sweep_strengths,
)
from ..styleclip.text import TEMPLATE_SETS
from ..utils.checks import SEED_MAX, check_int, check_seed
from ..utils.errors import UserError
from ..utils.fileio import check_output_files, check_writable_dir
from .common import add_generator_args, generator_spec, select_runtime
from .edit_video import check_video_args, edit_video

MAX_FACES = 100  # faces edited per photo
MAX_PHOTO_FACES = 8  # the default: a photo with more faces is refused


def edit_parser():
    """The editing command's flags (PaddleGAN's, plus the StyleCLIP and generator options)."""
    parser = argparse.ArgumentParser(
        prog="styleganv2clip.py", description="Edit StyleGAN2 faces with a text description (StyleCLIP global "
        "directions). Writes src.editing.png, dst.editing_{strength}.png, dst.editing.png (last strength), "
        "dst.editing_strip.png (source then every strength, tiles at most 256 px) and dst.editing.pd (edited S) "
        "per face.")
    parser.add_argument("--latent", default=None,
                        help="W+ .npy [18,512], [1,18,512] or [N,18,512] (N faces: face_i sub-folders), or W [512]; "
                             "default: a face sampled from --seed (truncation 0.7)")
    parser.add_argument("--input_image", nargs="+", default=None, metavar="PHOTO",
                        help="photos and/or folders of photos to edit instead of --latent: every face is aligned, "
                             "inverted with pSp, edited and pasted back into <name>.edited_{strength}.png and "
                             "<name>.edited.png at the photo's size")
    parser.add_argument("--input_video", default=None, metavar="VIDEO",
                        help="a video to edit instead: its faces are followed, inverted, edited and pasted back "
                             "into <name>.edited_{strength}.mp4 (same frames, rate, size and audio)")
    parser.add_argument("--max_faces", type=int, default=None,
                        help=f"with --input_image: a photo with more faces is refused (default {MAX_PHOTO_FACES}); "
                             "with --input_video: faces followed, largest first (default 1)")
    parser.add_argument("--match_colours", action="store_true",
                        help="with --input_image: match the pasted faces' colour statistics to the photo's")
    parser.add_argument("--refine_steps", type=int, default=0,
                        help="with --input_image: steps of fitting (MSE + LPIPS) after pSp, every W+ row (default 0)")
    parser.add_argument("--vgg_weight_path", default=None,
                        help="LPIPS VGG16 file for --refine_steps (default: the vgg16_official release)")
    parser.add_argument("--lins_weight_path", default=None,
                        help="LPIPS heads file for --refine_steps (default: the lins_0.1_vgg release)")
    parser.add_argument("--psp_weight_path", default=None,
                        help="pSp or e4e file for --input_image: PaddleGAN .pdparams or the official .pt (default: "
                             "the inverter the generator's config names, or with --encoder e4e the released e4e)")
    parser.add_argument("--encoder", choices=ENCODERS, default="psp",
                        help="with --input_image: the encoder family inverting photos (default psp; e4e's codes "
                             "edit better)")
    parser.add_argument("--landmark_model", default=None,
                        help="dlib 68-landmark model for --input_image (default: from face-recognition-models)")
    parser.add_argument("--seed", type=int, default=None,
                        help=f"seed of the sampled face without --latent / --input_image, 0 to {SEED_MAX} (default 0)")
    parser.add_argument("--output_path", default="output_dir", help="folder for the output files")
    parser.add_argument("--neutral", default="face", help="description of the face as it is (default: face)")
    parser.add_argument("--target", default=None,
                        help="description of the edited face, e.g. 'smiling face' (or the edits of --edit / --recipe)")
    parser.add_argument("--beta_threshold", default=str(DEFAULT_BETA),
                        help=f"keep channels with |relevance| >= beta (default {DEFAULT_BETA}); "
                             "auto: the largest of 0.10..0.29 keeping more than 20 channels")
    parser.add_argument("--direction_offset", type=float, nargs="+", default=None,
                        help=f"edit strength(s) strength, each from -{MAX_STRENGTH:g} to {MAX_STRENGTH:g}, e.g. -1 0 1 2 3 4 5 "
                             "(default 5); the last one is dst.editing.png")
    parser.add_argument("--direction_path", default=None,
                        help="global directions: PaddleGAN .pdparams [C,512] or official fs3.npy "
                             "(default: the ffhq-config-f release)")
    parser.add_argument("--stat_path", default=None,
                        help="S statistics (PaddleGAN .pdparams or StyleCLIP S_mean_std), read with --scale_by_std "
                             "(default: the ffhq-config-f release)")
    parser.add_argument("--scale_by_std", action="store_true",
                        help="official StyleCLIP convention: multiply each channel's edit by its std")
    parser.add_argument("--clip_weight_path", default=None, help="CLIP ViT-B-32 .pdparams (default: the release)")
    parser.add_argument("--templates", choices=TEMPLATE_SETS, default="paddlegan",
                        help="prompt templates: paddlegan (46) or official (CLIP's ImageNet set, 79)")
    add_generator_args(parser)
    add_sweep_and_composition_args(parser)
    return parser


def add_sweep_and_composition_args(parser):
    """The strength sweep's and the composed edits' flags, a group of their own."""
    group = parser.add_argument_group("strength sweep and composed edits")
    group.add_argument("--sweep", type=int, default=None, metavar="N",
                       help=f"also write {SWEEP_NAME}.gif and .mp4 per face (and <name>.edited_sweep.gif and .mp4 "
                            "for a photo): N frames from the smallest --direction_offset to the largest and back "
                            "(from 0 with one offset), each the full render at its strength")
    group.add_argument("--sweep_fps", type=int, default=SWEEP_FPS, help=f"frames per second of --sweep (default {SWEEP_FPS})")
    group.add_argument("--no_sweep_label", action="store_true",
                       help="leave the strength label out of the --sweep frames' corner")
    group.add_argument("--edit", action="append", default=None, metavar="SPEC",
                       help="one edit of a composition, repeatable: 'TARGET=STRENGTH' or 'NEUTRAL -> TARGET = "
                            "STRENGTH @ BETA' (neutral and beta default to --neutral and --beta_threshold); the edits "
                            "are applied at once (S + the sum of strength * delta_s) and written as one edit, "
                            "dst.editing_<name>.png; replaces --target and --direction_offset")
    group.add_argument("--recipe", default=None, metavar="FILE",
                       help="a file of edits, one per line as --edit takes them (# comments), composed before any "
                            "--edit; the page's Export writes one")


def composed_edits(args, beta):
    """The ``EditSpec``s of --recipe and --edit (None without them); --target is needed without them."""
    if args.edit is None and args.recipe is None:
        if args.target is None:
            raise UserError("pass the edit with --target (e.g. --target 'smiling face'), or edits with --edit / --recipe")
        return None
    if args.target is not None or args.direction_offset is not None:
        raise UserError("--edit and --recipe carry their own targets and strengths; pass them without --target and "
                        "--direction_offset")
    if args.sweep is not None:
        raise UserError("--sweep sweeps the strengths of one --target edit; pass it without --edit and --recipe")
    return ((read_recipe(args.recipe, args.neutral, beta) if args.recipe else [])
            + [parse_edit(text, args.neutral, beta) for text in args.edit or []])


def edit_summary(direction, args, edits):
    """The lines after an edit: channels moved (per edit of a composition, and the channels they share)."""
    if edits is None:
        return channel_summary(direction, args.neutral, args.target)
    return "\n".join([channel_summary(one, edit.neutral, edit.target) for edit, one in zip(edits, direction.directions)]
                     + [shared_channels(direction)])


def photo_folders(photos, output_path):
    """(name stem, folder of the edit files) per photo: ``output_path`` for one photo, ``output_path/<stem>`` for several.

    Two photos with the same name are an error (their outputs would collide).
    """
    stems = [os.path.splitext(os.path.basename(photo))[0] for photo in photos]
    seen = {}
    for photo, stem in zip(photos, stems):
        if stem in seen:
            raise UserError(f"{seen[stem]} and {photo} would both be written as {stem}.edited.png; rename one of them")
        seen[stem] = photo
    if len(photos) == 1:
        return stems, [output_path]
    return stems, [os.path.join(output_path, stem) for stem in stems]


def edit_photos(predictor, args, strengths, beta, psp, edits=None, sweep=None):
    """The --input_image path: align every photo (all checked first), then invert, edit and paste back each.

    ``psp``: the spec of the pSp model (``inverter_spec``); ``edits``: a composition's ``EditSpec``s (rendered
    at strength 1, named after the composition); ``sweep``: a ``Sweep``. Returns the EditDirection (the
    ``Composition``) and the pasted photo paths.
    """
    labels = (composition_name(edits),) if edits else strengths
    if args.refine_steps < 0:
        raise UserError(f"--refine_steps {args.refine_steps} is negative; pass 0 (pSp alone) or a number of steps")
    photos = collect_images(args.input_image)
    stems, folders = photo_folders(photos, args.output_path)
    g = predictor.generator
    generator = args.weight_path or f"the {predictor.spec.name} generator"
    inverter = PhotoInverter(landmark_model=args.landmark_model, latent_shape=(g.n_latent, g.style_dim), spec=psp,
                             generator_name=generator)
    aligned = [inverter.align(photo, args.max_faces) for photo in photos]
    check_writable_dir(args.output_path)
    for stem, folder, faces in zip(stems, folders, aligned):
        check_output_files([os.path.join(args.output_path, name) for name in photo_edit_names(stem, labels)]
                           + output_files(face_folders(folder, len(faces)), labels)
                           + (sweep_paths([photo_sweep_stem(args.output_path, stem)] + [
                               os.path.join(face, SWEEP_NAME) for face in face_folders(folder, len(faces))])
                              if sweep else []))
    if args.refine_steps:
        inverter.set_refinement(build_fitter(g, args.vgg_weight_path, args.lins_weight_path), args.refine_steps)
    direction = (predictor.compose(edits) if edits else
                 predictor.style_direction(predictor.text_direction.delta_t(args.neutral, args.target), beta))
    written = []
    for photo, stem, folder, faces in zip(photos, stems, folders, aligned):
        image = load_rgb(photo)
        inverted = InvertedPhoto(image, faces, inverter.latents(image, faces))
        edit_folders, paths = predictor.edit_photo(inverted, stem, direction, strengths, folder, args.match_colours,
                                                   sweep, labels)
        print(f"{photo}: {len(faces)} face(s) -> {', '.join(paths)} (and the edit files in {', '.join(edit_folders)})")
        written.extend(paths)
    return direction, written


def main(argv=None):
    """The editing command: check the inputs, build the predictor, run, print a summary."""
    args = edit_parser().parse_args(argv)
    video = check_video_args(args) if args.input_video is not None else None
    beta = as_beta(args.beta_threshold)
    edits = composed_edits(args, beta)
    sweep = None if args.sweep is None else check_sweep(args.sweep, args.sweep_fps, not args.no_sweep_label)
    if edits is None:
        check_texts(args.neutral, args.target, args.templates)
    else:
        check_edits(edits, args.templates)
    strengths = (1.0,) if edits else as_strengths(args.direction_offset or DEFAULT_STRENGTH)
    labels = (composition_name(edits),) if edits else strengths
    if sweep:
        sweep_strengths(strengths, sweep.frames)  # two different strengths to sweep between
    check_seed("--seed", args.seed)
    if args.latent is not None and args.input_image is not None:
        raise UserError("pass either --latent or --input_image, not both")
    if args.input_image is not None:
        collect_images(args.input_image)
    if args.max_faces is None:
        args.max_faces = 1 if video is not None else MAX_PHOTO_FACES
    check_int("--max_faces", args.max_faces, 1, MAX_FACES)
    latent = None if args.latent is None else load_latent_file(args.latent)
    check_writable_dir(args.output_path)
    if args.input_image is None and video is None:
        num_faces = len(latent) if latent is not None and latent.ndim == 3 else 1
        folders = face_folders(args.output_path, num_faces)
        check_output_files(output_files(folders, labels) + (
            sweep_paths([os.path.join(folder, SWEEP_NAME) for folder in folders]) if sweep else []))
    if args.stat_path is not None and not args.scale_by_std:
        print("note: --stat_path is only read with --scale_by_std", file=sys.stderr)
    spec = generator_spec(args)
    photos = args.input_image is not None or video is not None
    psp = inverter_spec(spec, args.psp_weight_path, args.encoder) if photos else None
    select_runtime(args)
    predictor = StyleGANv2ClipPredictor(args.output_path, direction_path=args.direction_path, stat_path=args.stat_path,
                                        clip_weight_path=args.clip_weight_path, seed=args.seed,
                                        templates=args.templates, scale_by_std=args.scale_by_std, spec=spec)
    if video is not None:
        direction = edit_video(predictor, args, strengths, beta, psp, video)
        print(channel_summary(direction, args.neutral, args.target))
        return
    if args.input_image is not None:
        direction, _ = edit_photos(predictor, args, strengths, beta, psp, edits, sweep)
        print(edit_summary(direction, args, edits))
        return
    result = (predictor.run_composed(latent, edits) if edits else
              predictor.run(latent, args.neutral, args.target, strengths=strengths, beta_threshold=beta, sweep=sweep))
    print(edit_summary(result.direction, args, edits))
    names = ", ".join([SRC_NAME] + [strength_file_name(label) for label in labels] + [DST_NAME, STRIP_NAME, STYLES_NAME]
                      + [f"{SWEEP_NAME}.gif", f"{SWEEP_NAME}.mp4"] * bool(sweep))
    print(f"wrote {names} to {', '.join(result.folders)}")

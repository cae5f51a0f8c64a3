"""Edit StyleGAN2 faces with text through StyleCLIP global directions (docs/spec.md, sections 5 and 6).

    python ppgan/apps/styleganv2clip_predictor.py edit --target "smiling face" [flags]  (= styleganv2clip.py)
    python ppgan/apps/styleganv2clip_predictor.py extract [flags]  (global directions, docs/extraction.md)
    (or python -m ppgan.apps.styleganv2clip_predictor ...)

An edit: delta_t = normalize(f(target) - f(neutral)) in CLIP space, relevance
r = fs3 @ delta_t, channels with |r| >= beta kept and divided by max |r|
(optionally times the channel std), edited S = S + offset * delta_s, rendered
with the generator's saved noise. The math lives in ``ppgan.styleclip``.
"""
import argparse
import collections
import functools
import math
import os
import shutil
import sys

if __name__ == "__main__":  # a command (a file, -m, or under paddle.distributed.launch): set up before paddle loads
    if not __package__:
        sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
        __package__ = "ppgan.apps"
    from ppgan.utils.runtime import configure_cpu_runtime

    configure_cpu_runtime()

import numpy as np  # noqa: E402
import paddle  # noqa: E402
from tqdm import tqdm  # noqa: E402

from ..styleclip.clip import CLIP_WEIGHTS, WEIGHT_FLAG, ClipEncoder  # noqa: E402
from ..styleclip.directions import (auto_beta, channel_relevance, compute_delta_s, edit_styles,  # noqa: E402
                                    load_directions)
from ..styleclip.stats import load_stats  # noqa: E402
from ..styleclip.text import TEMPLATE_SETS, TextDirection, check_pair, check_prompt_length, load_templates  # noqa: E402
from ..models.zoo import model_spec, resolve  # noqa: E402
from ..utils.cli import add_generator_args, generator_spec, run_cli  # noqa: E402
from ..utils.checks import SEED_MAX, check_int, check_seed, load_npy, plain  # noqa: E402
from ..utils.download import resolve_weights  # noqa: E402
from ..utils.errors import UserError  # noqa: E402
from ..utils.fileio import atomic_files, check_output_files, check_writable_dir  # noqa: E402
from ..faceutils import collect_images, load_rgb, paste_edits  # noqa: E402
from ..utils.image import make_grid, write_png  # noqa: E402
from .styleganv2_predictor import StyleGANv2Predictor  # noqa: E402

DEFAULT_BETA = 0.12
DEFAULT_OFFSET = 5.0
MAX_FACES = 100  # faces edited per photo
MAX_OFFSET = 100.0  # |alpha| beyond this saturates every moved channel (StyleCLIP's GUI stops at 10)
STRIP_TILE = 256
SRC_NAME = "src.editing.png"
DST_NAME = "dst.editing.png"
STRIP_NAME = "dst.editing_strip.png"
STYLES_NAME = "dst.editing.pd"

EditDirection = collections.namedtuple("EditDirection", "delta_s beta moved channels max_relevance")
EditDirection.__doc__ = ("An S-space edit: delta_s (list of float32 [C_l], toRGB zero), the beta used, "
                         "channels moved, non-toRGB channels in all, max |r|.")


class EditResult(collections.namedtuple("EditResult", "src_img dst_img dst_latent")):
    """What ``run`` did. Unpacks as PaddleGAN's ``run`` result, for the first face: ``src_img``
    and ``dst_img`` (uint8 [size, size, 3], unedited and at the last offset) and ``dst_latent``
    (its edited S, list of float32 [1, C_l] tensors, as saved in dst.editing.pd).

    Attributes beside them: ``direction`` (the EditDirection), ``folders`` (every face's
    output folder), ``images`` (uint8 [N, 1 + K, size, size, 3], source then each offset).
    """

    def __new__(cls, src_img, dst_img, dst_latent, direction, folders, images):
        result = super().__new__(cls, src_img, dst_img, dst_latent)
        result.direction, result.folders, result.images = direction, folders, images
        return result


def offset_name(offset):
    """File name of the render at ``offset``: 5.0 -> 'dst.editing_5.png', -0.5 -> 'dst.editing_-0.5.png'."""
    return f"dst.editing_{offset:g}.png"


def photo_edit_names(stem, offsets):
    """Pasted-back photo names: ``<stem>.edited_{offset}.png`` per offset, then ``<stem>.edited.png``."""
    return [f"{stem}.edited_{offset:g}.png" for offset in offsets] + [f"{stem}.edited.png"]


def photo_edit_files(folder, stem, offsets, pasted):
    """{path in ``folder``: pasted photo} for ``photo_edit_names``: pasted[k] (uint8 [H,W,3]) is the photo
    at offsets[k], and ``<stem>.edited.png`` the last one."""
    paths = [os.path.join(folder, name) for name in photo_edit_names(stem, offsets)]
    return dict(zip(paths, list(pasted) + [pasted[-1]]))


def strip_image(images, tile=STRIP_TILE):
    """uint8 [K, H, W, 3] -> one row uint8 [h, K*w, 3]; images over ``tile`` px high are box-averaged down to it.

    H and W are powers of two (the generator's size), so the factor H // tile is exact.
    """
    factor = max(1, images.shape[1] // tile)
    if factor > 1:
        k, height, width, channels = images.shape
        blocks = images.reshape(k, height // factor, factor, width // factor, factor, channels)
        images = blocks.mean(axis=(2, 4), dtype=np.float32).round().astype(np.uint8)
    return make_grid(images, 1, len(images))


def as_offsets(offsets):
    """One offset or several -> tuple of distinct finite floats in [-MAX_OFFSET, MAX_OFFSET], in the given order."""
    values = np.atleast_1d(np.asarray(offsets, dtype=np.float64)).ravel()
    if values.size == 0 or not np.isfinite(values).all() or np.abs(values).max() > MAX_OFFSET:
        shown = " ".join(plain(float(value)) for value in values) or "(none)"
        raise UserError(f"--direction_offset {shown}: pass one or more finite numbers from -{MAX_OFFSET:g} to "
                        f"{MAX_OFFSET:g}, e.g. -1 0 1 2 3 4 5")
    return tuple(dict.fromkeys(float(value) + 0.0 for value in values))  # + 0.0 turns -0.0 into 0.0


def as_beta(beta_threshold):
    """'auto' (the official GUI rule) or a finite beta >= 0 (a number or its text)."""
    if isinstance(beta_threshold, str) and beta_threshold.strip().lower() == "auto":
        return "auto"
    try:
        beta = float(beta_threshold)
    except (TypeError, ValueError):
        beta = math.nan
    if not (math.isfinite(beta) and beta >= 0):
        raise UserError(f"--beta_threshold {beta_threshold!r} is not 'auto' or a number >= 0; "
                        f"pass e.g. {DEFAULT_BETA} or auto")
    return beta


def check_texts(neutral, target, templates="paddlegan"):
    """Raise UserError for descriptions CLIP cannot take: empty, equal, or a prompt over 77 tokens. Loads no model."""
    check_pair(neutral, target)
    for flag, text in (("--neutral", neutral), ("--target", target)):
        check_prompt_length(text, templates, flag)


def load_latent_file(path, flag="--latent"):
    """A .npy file as a numpy array, with one-line errors for a missing, foreign or unreadable file."""
    return load_npy(path, flag, "a W+ .npy file (e.g. latents.npy of styleganv2.py)")


def read_latents(latent, n_latent, style_dim, source="latent", fix=None):
    """Faces to edit as W+ float32 [N, n_latent, style_dim].

    ``latent``: a .npy path or an array (numpy or Paddle) of W+ [n_latent, style_dim],
    [N, n_latent, style_dim] (N faces) or W [style_dim] (tiled to every row).
    ``source`` and ``fix`` word the shape error (default: a latent the user passed).
    """
    array = load_latent_file(latent) if isinstance(latent, str) else latent
    array = np.asarray(array.numpy() if isinstance(array, paddle.Tensor) else array)
    given = list(array.shape)
    if array.shape == (style_dim,):
        array = np.tile(array, (n_latent, 1))
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (n_latent, style_dim) or len(array) == 0:
        raise UserError(f"{source} of shape {given} does not fit this generator; "
                        + (fix or f"pass W+ [{n_latent}, {style_dim}] or [N, {n_latent}, {style_dim}] (N faces), "
                                  f"or W [{style_dim}]"))
    if not np.issubdtype(array.dtype, np.floating):
        raise UserError(f"latent has dtype {array.dtype}, not float; pass a W+ .npy file")
    if not np.isfinite(array).all():
        raise UserError("latent holds NaN or infinite values; pass a W+ .npy file")
    return array.astype(np.float32)


def styleclip_file(path, spec, kind, flag):
    """A local file of ``kind`` ('directions' or 'stats'): ``path``, or the one the model's config names."""
    entry = getattr(spec, kind)
    if path is None and entry is None:
        raise UserError(f"the model {spec.name} has no StyleCLIP {kind} file in its config; make one "
                        f"(styleclip_getf.py, then extract: docs/models.md) and pass {flag} PATH")
    return resolve(entry, path, flag=flag)


class StyleGANv2ClipPredictor(StyleGANv2Predictor):
    """A StyleGAN2 generator with global directions; ``run`` edits faces towards a text description.

    Loads the generator (``spec``, or PaddleGAN's keyword arguments and ``config``
    turned into one), the direction file (PaddleGAN bare-tensor .pdparams or
    official fs3.npy, checked against the generator's non-toRGB channels; default:
    the one the model's config names) and, with ``scale_by_std`` only, the S
    statistics. CLIP is loaded on first use, after every input has been checked.
    Missing files fail before anything loads.
    """

    def __init__(self, output_path="output_dir", weight_path=None, model_type=None, direction_path=None,
                 stat_path=None, clip_weight_path=None, seed=None, size=None, style_dim=None, n_mlp=None,
                 channel_multiplier=None, channels=None, templates="paddlegan", scale_by_std=False, config=None,
                 spec=None):
        load_templates(templates)
        spec = spec or model_spec("stylegan2", model_type, weight_path, config, size, style_dim, n_mlp,
                                  channel_multiplier, channels)
        direction_path = styleclip_file(direction_path, spec, "directions", "--direction_path")
        stat_path = styleclip_file(stat_path, spec, "stats", "--stat_path") if scale_by_std else None
        self.clip_weight_path = resolve_weights(CLIP_WEIGHTS, clip_weight_path, flag=WEIGHT_FLAG)
        self.templates = templates
        super().__init__(output_path, seed=seed, spec=spec)
        g = self.generator
        self.fs3 = load_directions(direction_path, g.channels_lst, g.style_layers)
        self.channel_std = load_stats(stat_path, g.channels_lst)[1] if scale_by_std else None

    @functools.cached_property
    def text_direction(self):
        """TextDirection over CLIP's text encoder (features cached per text and template set), built on first use."""
        return TextDirection(ClipEncoder(self.clip_weight_path), self.templates)

    def source_latents(self, latent=None):
        """W+ float32 [N, n_latent, style_dim]: ``latent`` checked (see ``read_latents``), or one face from ``seed``."""
        g = self.generator
        return self.sample_latents(1).numpy() if latent is None else read_latents(latent, g.n_latent, g.style_dim)

    def style_direction(self, delta_t, beta_threshold=DEFAULT_BETA):
        """Text direction [512] -> EditDirection: r = fs3 @ delta_t, beta (a number or 'auto') threshold (docs/spec.md, section 5)."""
        g = self.generator
        relevance = channel_relevance(self.fs3, delta_t)
        beta = as_beta(beta_threshold)
        beta = auto_beta(relevance) if beta == "auto" else beta
        delta_s = compute_delta_s(self.fs3, delta_t, beta, g.channels_lst, g.style_layers, self.channel_std)
        moved = sum(np.count_nonzero(delta) for delta in delta_s)
        return EditDirection(delta_s, beta, moved, len(self.fs3), float(np.abs(relevance).max()))

    def render_edits(self, latents, delta_s, offsets, batch_size=None, progress=None):
        """Render every face unedited and at every offset.

        latents [N, n_latent, style_dim], delta_s list of [C_l], K offsets -> (uint8
        [N, 1+K, size, size, 3], source first; edited S of the last offset, list of
        float32 [N, C_l]). All renders share batches (see ``render_styles``, which calls
        ``progress``); offset 0 is the source itself and is not rendered again.
        """
        with paddle.no_grad():
            styles = [s.numpy() for s in self.generator.style_affine(paddle.to_tensor(latents))]
        rendered = [offset for offset in offsets if offset != 0]
        codes = [styles] + [edit_styles(styles, delta_s, offset) for offset in rendered]
        images = self.render_styles([np.concatenate(layer) for layer in zip(*codes)], batch_size, progress)
        images = images.reshape(len(codes), len(latents), *images.shape[1:])
        order = [0] + [rendered.index(offset) + 1 if offset != 0 else 0 for offset in offsets]
        return images[order].swapaxes(0, 1), edit_styles(styles, delta_s, offsets[-1])

    def face_folders(self, num_faces, output_path=None):
        """Output folder of each face: the folder (default ``output_path``) for one face, ``folder/face_{i}`` for several."""
        return face_folders(self.output_path if output_path is None else output_path, num_faces)

    def save(self, images, last_styles, offsets, output_path=None, photo_files=None):
        """Write every face's files, all or none (see ``atomic_files``). Returns the face folders.

        Per face: src.editing.png, dst.editing_{offset}.png, dst.editing.png (the last
        offset), dst.editing_strip.png (source, then every offset, left to right, tiles at
        most 256 px high) and dst.editing.pd (S of the last offset: paddle.save of a list
        of [1, C_l] tensors). ``output_path``: another folder than the predictor's.
        ``photo_files``: {path: uint8 [H,W,3]} written in the same set (``photo_edit_files``).
        """
        photo_files = photo_files or {}
        folders = self.face_folders(len(images), output_path)
        check_output_files(output_files(folders, offsets) + list(photo_files))
        root = os.path.commonpath([os.path.abspath(folder) for folder in
                                   folders + [os.path.dirname(path) for path in photo_files]])
        with atomic_files(root, "--output_path") as staged:
            for path, image in photo_files.items():
                write_png(staged.path(path), image)
            self._stage_face_files(staged, folders, images, last_styles, offsets)
        return folders

    @staticmethod
    def _stage_face_files(staged, folders, images, last_styles, offsets):
        """Write the files of ``save`` into a ``StagedFiles`` set."""
        for face, (folder, face_images) in enumerate(zip(folders, images)):
            write_png(staged.path(os.path.join(folder, SRC_NAME)), face_images[0])
            for offset, image in zip(offsets, face_images[1:]):
                last = staged.path(os.path.join(folder, offset_name(offset)))
                write_png(last, image)
            shutil.copyfile(last, staged.path(os.path.join(folder, DST_NAME)))
            write_png(staged.path(os.path.join(folder, STRIP_NAME)), strip_image(face_images))
            paddle.save([paddle.to_tensor(s[face:face + 1]) for s in last_styles],
                        staged.path(os.path.join(folder, STYLES_NAME)))

    def render_with_progress(self, latents, delta_s, offsets):
        """``render_edits`` with a progress bar (Ctrl-C acts between renders)."""
        renders = len(latents) * (1 + sum(offset != 0 for offset in offsets))
        with tqdm(total=renders, desc="rendering edits", unit="image", file=sys.stderr) as bar:
            return self.render_edits(latents, delta_s, offsets, progress=bar.update)

    def edit_photo(self, inverted, stem, direction, offsets, files_path=None, colour_match=False):
        """Edit every face of an ``InvertedPhoto`` and paste them all back into the photo.

        Writes ``<stem>.edited_{offset}.png`` per offset and ``<stem>.edited.png`` (the last
        offset), at the photo's size, to ``output_path``, and the files of ``save`` to
        ``files_path`` (default ``output_path``); none appears unless all were written.
        Returns (face folders, pasted photo paths).
        """
        folders = self.face_folders(len(inverted.latents), files_path)
        paths = [os.path.join(self.output_path, name) for name in photo_edit_names(stem, offsets)]
        check_output_files(paths + output_files(folders, offsets))
        images, last_styles = self.render_with_progress(inverted.latents, direction.delta_s, offsets)
        pasted = paste_edits(np.asarray(inverted.photo), [face.quad for face in inverted.faces],
                             images[:, 1:].swapaxes(0, 1), colour_match)
        self.save(images, last_styles, offsets, files_path, photo_edit_files(self.output_path, stem, offsets, pasted))
        return folders, paths

    def run(self, latent=None, neutral="face", target="smiling face", offset=None, beta_threshold=DEFAULT_BETA,
            offsets=None):
        """Edit faces from ``neutral`` towards ``target`` at each offset and write the files (see ``save``).

        PaddleGAN's call ``run(latent, neutral, target, offset, beta_threshold)`` works as is.
        ``latent``: None (a face from ``seed``, truncation 0.7), a .npy path or an array
        (see ``read_latents``); ``offset`` (or ``offsets``): a number or a list of them
        (default 5); ``beta_threshold``: a number or 'auto'. Everything is checked before CLIP loads and
        rendered before any file is written. Returns an ``EditResult``.
        """
        if offset is not None and offsets is not None:
            raise TypeError("run() takes offset or offsets, not both")
        check_texts(neutral, target, self.templates)
        offsets = as_offsets(next((o for o in (offset, offsets) if o is not None), DEFAULT_OFFSET))
        beta = as_beta(beta_threshold)
        latents = self.source_latents(latent)
        check_writable_dir(self.output_path)
        check_output_files(output_files(self.face_folders(len(latents)), offsets))
        direction = self.style_direction(self.text_direction.delta_t(neutral, target), beta)
        images, last_styles = self.render_with_progress(latents, direction.delta_s, offsets)
        folders = self.save(images, last_styles, offsets)
        return EditResult(images[0, 0], images[0, -1], [paddle.to_tensor(s[:1]) for s in last_styles], direction,
                          folders, images)


def face_folders(output_path, num_faces):
    """Output folder of each face: ``output_path`` for one face, ``output_path/face_{i}`` for several."""
    if num_faces == 1:
        return [output_path]
    return [os.path.join(output_path, f"face_{i}") for i in range(num_faces)]


def output_files(folders, offsets):
    """Every file the edit writes for faces in ``folders`` at ``offsets``."""
    names = [SRC_NAME] + [offset_name(offset) for offset in offsets] + [DST_NAME, STRIP_NAME, STYLES_NAME]
    return [os.path.join(folder, name) for folder in folders for name in names]


def edit_parser():
    """The editing command's flags (PaddleGAN's, plus the StyleCLIP and generator options)."""
    parser = argparse.ArgumentParser(
        prog="styleganv2clip.py", description="Edit StyleGAN2 faces with a text description (StyleCLIP global "
        "directions). Writes src.editing.png, dst.editing_{offset}.png, dst.editing.png (last offset), "
        "dst.editing_strip.png (source then every offset, tiles at most 256 px) and dst.editing.pd (edited S) "
        "per face.")
    parser.add_argument("--latent", default=None,
                        help="W+ .npy [18,512], [1,18,512] or [N,18,512] (N faces: face_i sub-folders), or W [512]; "
                             "default: a face sampled from --seed (truncation 0.7)")
    parser.add_argument("--input_image", nargs="+", default=None, metavar="PHOTO",
                        help="photos and/or folders of photos to edit instead of --latent: every face is aligned, "
                             "inverted with pSp, edited and pasted back into <name>.edited_{offset}.png and "
                             "<name>.edited.png at the photo's size")
    parser.add_argument("--max_faces", type=int, default=8,
                        help="with --input_image: a photo with more faces is refused (default 8)")
    parser.add_argument("--match_colours", action="store_true",
                        help="with --input_image: match the pasted faces' colour statistics to the photo's")
    parser.add_argument("--refine_steps", type=int, default=0,
                        help="with --input_image: steps of fitting (MSE + LPIPS) after pSp, every W+ row (default 0)")
    parser.add_argument("--vgg_weight_path", default=None,
                        help="LPIPS VGG16 file for --refine_steps (default: the vgg16_official release)")
    parser.add_argument("--lins_weight_path", default=None,
                        help="LPIPS heads file for --refine_steps (default: the lins_0.1_vgg release)")
    parser.add_argument("--psp_weight_path", default=None,
                        help="pSp .pdparams for --input_image (default: the inverter the generator's config names)")
    parser.add_argument("--landmark_model", default=None,
                        help="dlib 68-landmark model for --input_image (default: from face-recognition-models)")
    parser.add_argument("--seed", type=int, default=None,
                        help=f"seed of the sampled face without --latent / --input_image, 0 to {SEED_MAX} (default 0)")
    parser.add_argument("--output_path", default="output_dir", help="folder for the output files")
    parser.add_argument("--neutral", default="face", help="description of the face as it is (default: face)")
    parser.add_argument("--target", required=True, help="description of the edited face, e.g. 'smiling face'")
    parser.add_argument("--beta_threshold", default=str(DEFAULT_BETA),
                        help=f"keep channels with |relevance| >= beta (default {DEFAULT_BETA}); "
                             "auto: the largest of 0.10..0.29 keeping more than 20 channels")
    parser.add_argument("--direction_offset", type=float, nargs="+", default=[DEFAULT_OFFSET],
                        help=f"edit strength(s) alpha, each from -{MAX_OFFSET:g} to {MAX_OFFSET:g}, e.g. -1 0 1 2 3 4 5 "
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
    return parser


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


def edit_photos(predictor, args, offsets, beta, psp):
    """The --input_image path: align every photo (all checked first), then invert, edit and paste back each.

    ``psp``: the spec of the pSp model (``psp_spec``). Returns the EditDirection and the pasted photo paths.
    """
    from .inversion import InvertedPhoto, PhotoInverter
    from .styleganv2fitting_predictor import build_fitter

    if args.refine_steps < 0:
        raise UserError(f"--refine_steps {args.refine_steps} is negative; pass 0 (pSp alone) or a number of steps")
    photos = collect_images(args.input_image)
    stems, folders = photo_folders(photos, args.output_path)
    g = predictor.generator
    generator = args.weight_path or f"the {args.model_type or 'ffhq-config-f'} generator"
    inverter = PhotoInverter(landmark_model=args.landmark_model, latent_shape=(g.n_latent, g.style_dim), spec=psp,
                             generator_name=generator)
    aligned = [inverter.align(photo, args.max_faces) for photo in photos]
    check_writable_dir(args.output_path)
    for stem, folder, faces in zip(stems, folders, aligned):
        check_output_files([os.path.join(args.output_path, name) for name in photo_edit_names(stem, offsets)]
                           + output_files(face_folders(folder, len(faces)), offsets))
    if args.refine_steps:
        inverter.set_refinement(build_fitter(g, args.vgg_weight_path, args.lins_weight_path), args.refine_steps)
    direction = predictor.style_direction(predictor.text_direction.delta_t(args.neutral, args.target), beta)
    written = []
    for photo, stem, folder, faces in zip(photos, stems, folders, aligned):
        image = load_rgb(photo)
        inverted = InvertedPhoto(image, faces, inverter.latents(image, faces))
        edit_folders, paths = predictor.edit_photo(inverted, stem, direction, offsets, folder, args.match_colours)
        print(f"{photo}: {len(faces)} face(s) -> {', '.join(paths)} (and the edit files in {', '.join(edit_folders)})")
        written.extend(paths)
    return direction, written


def psp_spec(generator_spec, psp_weight_path=None):
    """The spec of the pSp model inverting photos into ``generator_spec``'s W+: ``--psp_weight_path`` or its config's."""
    if psp_weight_path is None and generator_spec.inverter is None:
        raise UserError(f"no pSp model inverts photos into {generator_spec.name} (its config names no inverter); "
                        "pass --psp_weight_path, or --latent instead of a photo")
    return model_spec("psp", None if psp_weight_path else generator_spec.inverter, psp_weight_path,
                      weight_flag="--psp_weight_path")


def edit_main(argv=None):
    """The editing command: check the inputs, build the predictor, run, print a summary."""
    from ..utils.runtime import select_device

    args = edit_parser().parse_args(argv)
    check_texts(args.neutral, args.target, args.templates)
    offsets, beta = as_offsets(args.direction_offset), as_beta(args.beta_threshold)
    check_seed("--seed", args.seed)
    if args.latent is not None and args.input_image is not None:
        raise UserError("pass either --latent or --input_image, not both")
    if args.input_image is not None:
        collect_images(args.input_image)
    check_int("--max_faces", args.max_faces, 1, MAX_FACES)
    latent = None if args.latent is None else load_latent_file(args.latent)
    check_writable_dir(args.output_path)
    if args.input_image is None:
        num_faces = len(latent) if latent is not None and latent.ndim == 3 else 1
        check_output_files(output_files(face_folders(args.output_path, num_faces), offsets))
    if args.stat_path is not None and not args.scale_by_std:
        print("note: --stat_path is only read with --scale_by_std", file=sys.stderr)
    spec = generator_spec(args)
    psp = psp_spec(spec, args.psp_weight_path) if args.input_image is not None else None
    select_device(args.cpu)
    predictor = StyleGANv2ClipPredictor(args.output_path, direction_path=args.direction_path, stat_path=args.stat_path,
                                        clip_weight_path=args.clip_weight_path, seed=args.seed,
                                        templates=args.templates, scale_by_std=args.scale_by_std, spec=spec)
    if args.input_image is not None:
        direction, _ = edit_photos(predictor, args, offsets, beta, psp)
        print(channel_summary(direction, args.neutral, args.target))
        return
    result = predictor.run(latent, args.neutral, args.target, offsets=offsets, beta_threshold=beta)
    print(channel_summary(result.direction, args.neutral, args.target))
    names = ", ".join([SRC_NAME] + [offset_name(offset) for offset in offsets] + [DST_NAME, STRIP_NAME, STYLES_NAME])
    print(f"wrote {names} to {', '.join(result.folders)}")


def channel_summary(direction, neutral, target):
    """One line: how many style channels the edit moves, at which beta."""
    return (f"{neutral!r} -> {target!r}: beta {direction.beta:g} moves {direction.moved} of "
            f"{direction.channels} style channels (max |r| {direction.max_relevance:.4f})")


def extract_main(argv=None):
    """The ``extract`` subcommand (``ppgan.cli.extract.main``)."""
    from ..cli.extract import main

    return main(argv)


SUBCOMMANDS = {"edit": edit_main, "extract": extract_main}


def main(argv=None):
    """Dispatch ``edit`` / ``extract`` with the remaining arguments."""
    parser = argparse.ArgumentParser(prog="styleganv2clip_predictor.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=SUBCOMMANDS, help="edit: edit faces with text; extract: global directions")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the subcommand's flags (see COMMAND --help)")
    args = parser.parse_args(argv)
    return SUBCOMMANDS[args.command](args.args)


if __name__ == "__main__":
    run_cli(main)

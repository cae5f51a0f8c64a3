"""PaddleGAN's StyleCLIP predictor: edit StyleGAN2 faces with text through global directions (docs/spec.md, 5-6).

    python ppgan/apps/styleganv2clip_predictor.py edit --target "smiling face" [flags]  (= styleganv2clip.py)
    python ppgan/apps/styleganv2clip_predictor.py extract [flags]  (global directions, docs/extraction.md)
    (or python -m ppgan.apps.styleganv2clip_predictor ...; the commands live in ``ppgan.cli``)

The predictor loads the generator, the direction file and CLIP (on first use), turns
two texts into an ``EditDirection`` (``ppgan.styleclip.edit``), renders the faces at
every strength with the generator's saved noise and writes the files of
``ppgan.styleclip.outputs``.
"""
if __name__ == "__main__":  # a command (a file, -m, or under paddle.distributed.launch)
    import os
    import sys

    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    from ppgan.cli.styleclip import run

    run()

import collections  # noqa: E402
import functools  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import paddle  # noqa: E402
from tqdm import tqdm  # noqa: E402

from ..faceutils import paste_edits  # noqa: E402
from ..inversion.latents import read_latents  # noqa: E402
from ..models.zoo import model_spec, release_file, styleclip_file  # noqa: E402
from ..styleclip.clip import WEIGHT_ARG, ClipEncoder  # noqa: E402
from ..styleclip.compose import check_edits, compose, composition_name  # noqa: E402
from ..styleclip.directions import edit_styles, load_directions  # noqa: E402
from ..styleclip.edit import (  # noqa: E402
    DEFAULT_BETA,
    DEFAULT_STRENGTH,
    as_beta,
    as_strengths,
    check_texts,
    edit_direction,
)
from ..styleclip.outputs import (  # noqa: E402
    face_folders,
    output_files,
    photo_edit_files,
    photo_edit_names,
    photo_sweep_stem,
    save_edit_files,
)
from ..styleclip.stats import load_stats  # noqa: E402
from ..styleclip.sweep import (  # noqa: E402
    SWEEP_NAME,
    sweep_files,
    sweep_frames,
    sweep_paths,
    sweep_strengths,
)
from ..styleclip.text import TextDirection, load_templates  # noqa: E402
from ..utils.fileio import check_output_files, check_writable_dir  # noqa: E402
from .styleganv2_predictor import StyleGANv2Predictor  # noqa: E402


class EditResult(collections.namedtuple("EditResult", "src_img dst_img dst_latent")):
    """What ``run`` did. Unpacks as PaddleGAN's ``run`` result, for the first face: ``src_img``
    and ``dst_img`` (uint8 [size, size, 3], unedited and at the last strength) and ``dst_latent``
    (its edited S, list of float32 [1, C_l] tensors, as saved in dst.editing.pd).

    Attributes beside them: ``direction`` (the EditDirection; of ``run_composed``, the Composition),
    ``folders`` (every face's output folder), ``images`` (uint8 [N, 1 + K, size, size, 3], source then
    each strength).
    """

    def __new__(cls, src_img, dst_img, dst_latent, direction, folders, images):
        result = super().__new__(cls, src_img, dst_img, dst_latent)
        result.direction, result.folders, result.images = direction, folders, images
        return result


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
        direction_path = styleclip_file(direction_path, spec, "directions")
        stat_path = styleclip_file(stat_path, spec, "stats") if scale_by_std else None
        self.clip_weight_path = release_file("clip", path=clip_weight_path, arg=WEIGHT_ARG)
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
        """Text direction [512] -> ``EditDirection`` (beta a number or 'auto'; see ``edit_direction``)."""
        g = self.generator
        return edit_direction(self.fs3, delta_t, beta_threshold, g.channels_lst, g.style_layers, self.channel_std)

    def render_edits(self, latents, delta_s, strengths, batch_size=None, progress=None, source=True):
        """Render every face unedited and at every strength.

        latents [N, n_latent, style_dim], delta_s list of [C_l], K strengths -> (uint8
        [N, 1+K, size, size, 3], source first; edited S of the last strength, list of
        float32 [N, C_l]). All renders share batches (see ``render_styles``, which calls
        ``progress``); strength 0 is the source itself and is not rendered again.
        ``source=False``: the strengths' images alone, [N, K, size, size, 3] (the source is
        then rendered only for a strength 0).
        """
        with paddle.no_grad():
            styles = [s.numpy() for s in self.generator.style_affine(paddle.to_tensor(latents))]
        rendered = [strength for strength in strengths if strength != 0]
        with_source = source or len(rendered) < len(strengths)
        codes = [styles] * with_source + [edit_styles(styles, delta_s, strength) for strength in rendered]
        images = self.render_styles([np.concatenate(layer) for layer in zip(*codes)], batch_size, progress)
        images = images.reshape(len(codes), len(latents), *images.shape[1:])
        order = [0] * source + [rendered.index(strength) + with_source if strength != 0 else 0 for strength in strengths]
        return images[order].swapaxes(0, 1), edit_styles(styles, delta_s, strengths[-1])

    def face_folders(self, num_faces, output_path=None):
        """Output folder of each face: the folder (default ``output_path``) for one face, ``folder/face_{i}`` for several."""
        return face_folders(self.output_path if output_path is None else output_path, num_faces)

    def save(self, images, last_styles, strengths, output_path=None, photo_files=None, written=None):
        """Write every face's files (``ppgan.styleclip.outputs.save_edit_files``), all or none; returns the
        face folders. ``output_path``: another folder than the predictor's; ``photo_files``: {path: uint8
        [H, W, 3]} and ``written`` ({path: writer}, a sweep's files) written in the same set."""
        folders = self.face_folders(len(images), output_path)
        save_edit_files(folders, images, last_styles, strengths, photo_files, written)
        return folders

    def render_with_progress(self, latents, delta_s, strengths, frame_strengths=()):
        """``render_edits`` with a progress bar (Ctrl-C acts between renders), plus a sweep's renders.

        Returns (images, last styles) of ``render_edits`` and the renders at ``frame_strengths``, uint8
        [N, F, size, size, 3]: every distinct strength is rendered once, in the batches of the others.
        """
        extra = tuple(strength for strength in dict.fromkeys(frame_strengths) if strength not in strengths)
        rendered = extra + tuple(strengths)
        renders = len(latents) * (1 + sum(strength != 0 for strength in rendered))
        with tqdm(total=renders, desc="rendering edits", unit="image", file=sys.stderr) as bar:
            images, last_styles = self.render_edits(latents, delta_s, rendered, progress=bar.update)
        frames = images[:, [1 + rendered.index(strength) for strength in frame_strengths]]
        return images[:, [0] + list(range(1 + len(extra), 1 + len(rendered)))], last_styles, frames

    def sweep_files(self, folders, renders, frame_strengths, sweep):
        """{path: writer} of the sweep files of each face: renders uint8 [N, F, size, size, 3] at the F
        ``frame_strengths``, labelled as ``sweep`` (a ``ppgan.styleclip.sweep.Sweep``) says."""
        written = {}
        for folder, face_renders in zip(folders, renders):
            frames = sweep_frames(face_renders, frame_strengths, sweep.labelled)
            written.update(sweep_files(os.path.join(folder, SWEEP_NAME), frames, sweep.fps))
        return written

    def edit_photo(self, inverted, stem, direction, strengths, files_path=None, colour_match=False, sweep=None,
                   labels=None):
        """Edit every face of an ``InvertedPhoto`` and paste them all back into the photo.

        Writes ``<stem>.edited_{strength}.png`` per strength and ``<stem>.edited.png`` (the last
        strength), at the photo's size, to ``output_path``, and the files of ``save`` to
        ``files_path`` (default ``output_path``); none appears unless all were written. With a
        ``sweep`` (``ppgan.styleclip.sweep.Sweep``) also ``<stem>.edited_sweep.gif`` and ``.mp4`` of the
        pasted photos and each face's sweep. ``labels``: the renders' names in file names (default the
        strengths; a composition's name). Returns (face folders, pasted photo paths).
        """
        labels = labels or strengths
        folders = self.face_folders(len(inverted.latents), files_path)
        frame_strengths = () if sweep is None else sweep_strengths(strengths, sweep.frames)
        sweep_stem = photo_sweep_stem(self.output_path, stem)
        paths = [os.path.join(self.output_path, name) for name in photo_edit_names(stem, labels)]
        sweeps = sweep_paths([sweep_stem] + [os.path.join(folder, SWEEP_NAME) for folder in folders]) if sweep else []
        check_output_files(paths + output_files(folders, labels) + sweeps)
        images, last_styles, renders = self.render_with_progress(inverted.latents, direction.delta_s, strengths,
                                                                 frame_strengths)
        quads = [face.quad for face in inverted.faces]
        pasted = paste_edits(np.asarray(inverted.photo), quads, images[:, 1:].swapaxes(0, 1), colour_match)
        written = {}
        if sweep is not None:
            written = self.sweep_files(folders, renders, frame_strengths, sweep)
            photos = paste_edits(np.asarray(inverted.photo), quads, renders.swapaxes(0, 1), colour_match)
            written.update(sweep_files(sweep_stem, sweep_frames(photos, frame_strengths, sweep.labelled), sweep.fps))
        self.save(images, last_styles, labels, files_path, photo_edit_files(self.output_path, stem, labels, pasted),
                  written)
        return folders, paths

    def run(self, latent=None, neutral="face", target="smiling face", offset=None, beta_threshold=DEFAULT_BETA,
            strengths=None, sweep=None):
        """Edit faces from ``neutral`` towards ``target`` at each strength and write the files (see ``save``).

        PaddleGAN's call ``run(latent, neutral, target, offset, beta_threshold)`` works as is: ``offset``
        is PaddleGAN's name of the strength. ``latent``: None (a face from ``seed``, truncation 0.7), a
        .npy path or an array (see ``read_latents``); ``offset`` (or ``strengths``): a number or a list of
        them (default 5); ``beta_threshold``: a number or 'auto'; ``sweep``: a ``ppgan.styleclip.sweep.Sweep``
        (also ``dst.editing_sweep.gif`` and ``.mp4`` per face). Everything is checked before CLIP loads
        and rendered before any file is written. Returns an ``EditResult``.
        """
        if offset is not None and strengths is not None:
            raise TypeError("run() takes offset or strengths, not both")
        check_texts(neutral, target, self.templates)
        strengths = as_strengths(next((o for o in (offset, strengths) if o is not None), DEFAULT_STRENGTH))
        beta = as_beta(beta_threshold)
        frame_strengths = () if sweep is None else sweep_strengths(strengths, sweep.frames)
        latents = self.source_latents(latent)
        folders = self.face_folders(len(latents))
        check_writable_dir(self.output_path)
        sweeps = sweep_paths([os.path.join(folder, SWEEP_NAME) for folder in folders]) if sweep else []
        check_output_files(output_files(folders, strengths) + sweeps)
        direction = self.style_direction(self.text_direction.delta_t(neutral, target), beta)
        images, last_styles, renders = self.render_with_progress(latents, direction.delta_s, strengths,
                                                                 frame_strengths)
        written = {} if sweep is None else self.sweep_files(folders, renders, frame_strengths, sweep)
        self.save(images, last_styles, strengths, written=written)
        return EditResult(images[0, 0], images[0, -1], [paddle.to_tensor(s[:1]) for s in last_styles], direction,
                          folders, images)

    def compose(self, edits):
        """``Composition`` of ``EditSpec``s: each edit's direction as a single edit's (``style_direction``)."""
        check_edits(edits, self.templates)
        return compose(edits, [self.style_direction(self.text_direction.delta_t(edit.neutral, edit.target), edit.beta)
                               for edit in edits])

    def run_composed(self, latent, edits):
        """Edit faces by several edits at once (``ppgan.styleclip.compose``): S + sum of strength_i * delta_s_i,
        written as one edit whose render is named after the composition (``dst.editing_<name>.png``, with
        src.editing.png, dst.editing.png, the strip and dst.editing.pd). Returns an ``EditResult`` whose
        ``direction`` is the ``Composition``."""
        latents = self.source_latents(latent)
        check_edits(edits, self.templates)
        check_writable_dir(self.output_path)
        folders = self.face_folders(len(latents))
        check_output_files(output_files(folders, (composition_name(edits),)))
        composition = self.compose(edits)
        images, last_styles, _ = self.render_with_progress(latents, composition.delta_s, (1.0,))
        self.save(images, last_styles, (composition.name,))
        return EditResult(images[0, 0], images[0, -1], [paddle.to_tensor(s[:1]) for s in last_styles], composition,
                          folders, images)

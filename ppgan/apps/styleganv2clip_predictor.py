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
from ..styleclip.directions import edit_styles, load_directions  # noqa: E402
from ..styleclip.edit import DEFAULT_BETA, DEFAULT_STRENGTH, as_beta, as_strengths, check_texts, edit_direction  # noqa: E402
from ..styleclip.outputs import face_folders, output_files, photo_edit_files, photo_edit_names, save_edit_files  # noqa: E402
from ..styleclip.stats import load_stats  # noqa: E402
from ..styleclip.text import TextDirection, load_templates  # noqa: E402
from ..utils.fileio import check_output_files, check_writable_dir  # noqa: E402
from .styleganv2_predictor import StyleGANv2Predictor  # noqa: E402


class EditResult(collections.namedtuple("EditResult", "src_img dst_img dst_latent")):
    """What ``run`` did. Unpacks as PaddleGAN's ``run`` result, for the first face: ``src_img``
    and ``dst_img`` (uint8 [size, size, 3], unedited and at the last strength) and ``dst_latent``
    (its edited S, list of float32 [1, C_l] tensors, as saved in dst.editing.pd).

    Attributes beside them: ``direction`` (the EditDirection), ``folders`` (every face's
    output folder), ``images`` (uint8 [N, 1 + K, size, size, 3], source then each strength).
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

    def render_edits(self, latents, delta_s, strengths, batch_size=None, progress=None):
        """Render every face unedited and at every strength.

        latents [N, n_latent, style_dim], delta_s list of [C_l], K strengths -> (uint8
        [N, 1+K, size, size, 3], source first; edited S of the last strength, list of
        float32 [N, C_l]). All renders share batches (see ``render_styles``, which calls
        ``progress``); strength 0 is the source itself and is not rendered again.
        """
        with paddle.no_grad():
            styles = [s.numpy() for s in self.generator.style_affine(paddle.to_tensor(latents))]
        rendered = [strength for strength in strengths if strength != 0]
        codes = [styles] + [edit_styles(styles, delta_s, strength) for strength in rendered]
        images = self.render_styles([np.concatenate(layer) for layer in zip(*codes)], batch_size, progress)
        images = images.reshape(len(codes), len(latents), *images.shape[1:])
        order = [0] + [rendered.index(strength) + 1 if strength != 0 else 0 for strength in strengths]
        return images[order].swapaxes(0, 1), edit_styles(styles, delta_s, strengths[-1])

    def face_folders(self, num_faces, output_path=None):
        """Output folder of each face: the folder (default ``output_path``) for one face, ``folder/face_{i}`` for several."""
        return face_folders(self.output_path if output_path is None else output_path, num_faces)

    def save(self, images, last_styles, strengths, output_path=None, photo_files=None):
        """Write every face's files (``ppgan.styleclip.outputs.save_edit_files``), all or none; returns the
        face folders. ``output_path``: another folder than the predictor's; ``photo_files``: {path: uint8
        [H, W, 3]} written in the same set."""
        folders = self.face_folders(len(images), output_path)
        save_edit_files(folders, images, last_styles, strengths, photo_files)
        return folders

    def render_with_progress(self, latents, delta_s, strengths):
        """``render_edits`` with a progress bar (Ctrl-C acts between renders)."""
        renders = len(latents) * (1 + sum(strength != 0 for strength in strengths))
        with tqdm(total=renders, desc="rendering edits", unit="image", file=sys.stderr) as bar:
            return self.render_edits(latents, delta_s, strengths, progress=bar.update)

    def edit_photo(self, inverted, stem, direction, strengths, files_path=None, colour_match=False):
        """Edit every face of an ``InvertedPhoto`` and paste them all back into the photo.

        Writes ``<stem>.edited_{strength}.png`` per strength and ``<stem>.edited.png`` (the last
        strength), at the photo's size, to ``output_path``, and the files of ``save`` to
        ``files_path`` (default ``output_path``); none appears unless all were written.
        Returns (face folders, pasted photo paths).
        """
        folders = self.face_folders(len(inverted.latents), files_path)
        paths = [os.path.join(self.output_path, name) for name in photo_edit_names(stem, strengths)]
        check_output_files(paths + output_files(folders, strengths))
        images, last_styles = self.render_with_progress(inverted.latents, direction.delta_s, strengths)
        pasted = paste_edits(np.asarray(inverted.photo), [face.quad for face in inverted.faces],
                             images[:, 1:].swapaxes(0, 1), colour_match)
        self.save(images, last_styles, strengths, files_path, photo_edit_files(self.output_path, stem, strengths, pasted))
        return folders, paths

    def run(self, latent=None, neutral="face", target="smiling face", offset=None, beta_threshold=DEFAULT_BETA,
            strengths=None):
        """Edit faces from ``neutral`` towards ``target`` at each strength and write the files (see ``save``).

        PaddleGAN's call ``run(latent, neutral, target, offset, beta_threshold)`` works as is: ``offset``
        is PaddleGAN's name of the strength. ``latent``: None (a face from ``seed``, truncation 0.7), a
        .npy path or an array (see ``read_latents``); ``offset`` (or ``strengths``): a number or a list of
        them (default 5); ``beta_threshold``: a number or 'auto'. Everything is checked before CLIP loads
        and rendered before any file is written. Returns an ``EditResult``.
        """
        if offset is not None and strengths is not None:
            raise TypeError("run() takes offset or strengths, not both")
        check_texts(neutral, target, self.templates)
        strengths = as_strengths(next((o for o in (offset, strengths) if o is not None), DEFAULT_STRENGTH))
        beta = as_beta(beta_threshold)
        latents = self.source_latents(latent)
        check_writable_dir(self.output_path)
        check_output_files(output_files(self.face_folders(len(latents)), strengths))
        direction = self.style_direction(self.text_direction.delta_t(neutral, target), beta)
        images, last_styles = self.render_with_progress(latents, direction.delta_s, strengths)
        folders = self.save(images, last_styles, strengths)
        return EditResult(images[0, 0], images[0, -1], [paddle.to_tensor(s[:1]) for s in last_styles], direction,
                          folders, images)

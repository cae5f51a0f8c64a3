"""The edit session of one page, without Gradio: the picked face, accepted edits, undo / reset, exports.

``EditSession`` is the page's state machine: pick a face (a seed, a W+ .npy or a photo's
``PhotoFace``), edit it (text direction at a strength), accept the edit as the start of the
next one, undo, reset, export the edit command's files (with the accepted edits as a recipe of
composed edits, ``ppgan.styleclip.compose``) or a strength sweep. Its model calls go to an ``Editor``
(``ppgan.page.service``). Export folders live in the system's temporary folder until the
session drops them, and ``remove_export_folders`` removes those left when the process exits.
"""
import atexit
import collections
import functools
import itertools
import os
import shutil
import tempfile

import numpy as np

from ..faceutils import paste_edits
from ..styleclip.compose import RECIPE_NAME, EditSpec, edit_text, write_recipe
from ..styleclip.directions import edit_styles
from ..styleclip.edit import as_beta
from ..styleclip.outputs import (
    DST_NAME,
    SRC_NAME,
    STRIP_NAME,
    STYLES_NAME,
    photo_edit_files,
    photo_sweep_stem,
    strength_file_name,
)
from ..styleclip.sweep import (
    SWEEP_FPS,
    SWEEP_NAME,
    check_sweep,
    sweep_files,
    sweep_frames,
    sweep_strengths,
)
from ..utils.errors import UserError
from ..utils.fileio import atomic_files

PhotoFace = collections.namedtuple("PhotoFace", "stem photo quad index count")
PhotoFace.__doc__ = ("The photo a page's face came from: stem (the upload's file name without extension), "
                     "photo (uint8 [H, W, 3]), quad (float64 [4, 2], the face's alignment quad in it), index "
                     "(0: the photo's largest face) and count (the photo's faces).")
PhotoFaces = collections.namedtuple("PhotoFaces", "path photo faces")
PhotoFaces.__doc__ = ("A photo uploaded to the page: path (the upload), photo (RGB PIL image) and faces (its "
                      "``AlignedFace`` list, largest first), one of which the page edits.")
EXPORT_PREFIX = "styleclip_app_"  # export folders: <system temporary folder>/styleclip_app_*
_EXPORT_FOLDERS = set()  # every export folder of the process not yet removed


def photo_face(path, photo, face):
    """PhotoFace of ``face`` (an ``AlignedFace``) of ``photo`` (RGB PIL image), the upload at ``path``."""
    return PhotoFace(os.path.splitext(os.path.basename(path))[0], np.asarray(photo), face.quad, face.index,
                     face.face_count)


def remove_export_folders():
    """Remove every export folder of the process (the server stops: the page can no longer offer them)."""
    while _EXPORT_FOLDERS:
        shutil.rmtree(_EXPORT_FOLDERS.pop(), ignore_errors=True)


atexit.register(remove_export_folders)  # at any exit of the interpreter, behind the command's own clean-up


_BASE_IDS = itertools.count(1)


class EditSession:
    """One face being edited on one page: the picked S code, the accepted edits and the edit on top.

    ``latent`` is the picked face, W+ [n_latent, style_dim]; S codes are lists of float32 [1, C_l]
    and images uint8 [R, R, 3] (R: the generator's size).

    ``original`` is the face as picked, ``history`` the accepted edits (description, S
    code, image, ``EditSpec``), oldest first, ``base`` the start of the current edit (the last accepted
    edit, or the original), ``direction`` and ``strength`` the edit, ``image`` its last full
    render (None after a preview or a failed edit). ``export_folder`` holds the last export.
    ``photo``: the ``PhotoFace`` the face came from (None: a seed or .npy face); ``pasted``
    and ``base_pasted`` are that photo with the face of ``image`` (``base_image`` while
    ``image`` is None) and of ``base_image`` pasted back, uint8 [H, W, 3] (None without a photo).
    ``base_id`` names the current ``base`` (unique in the process, new at every rebase): the page
    sends it back with each edit, so an edit meant for an earlier base is recognised as stale.
    """

    def __init__(self, editor, latent, photo=None):
        self.editor = editor
        self.photo = photo
        self.original = editor.styles(latent)
        self.original_image = editor.render(self.original)
        self.history = []
        self.export_folder = None
        self._rebase()

    @property
    def styles(self):
        """The edited S code (``base`` while there is no edit)."""
        return self.base if self.direction is None else edit_styles(self.base, self.direction.delta_s, self.strength)

    def edit(self, neutral, target, beta, strength, preview=False):
        """Edit ``base`` with (neutral, target, beta or 'auto') at strength strength and render it.

        Returns the image, or None when the page already shows these settings in full.
        A UserError (bad text, no channel kept) leaves the session without an edit.
        """
        settings = (neutral, target, beta, float(strength))
        if settings == self._shown:
            return None
        self.direction = self._shown = self.image = None  # and so they stay if the direction raises
        self.pasted = self.base_pasted
        self.direction, self.strength = self.editor.direction(neutral, target, as_beta(beta)), float(strength)
        self.description = f"'{neutral}' -> '{target}' at {self.strength:g} (beta {self.direction.beta:g})"
        self.edit_spec = EditSpec(neutral.strip(), target.strip(), self.strength, self.direction.beta)
        image = self.editor.render(self.styles, preview)
        if not preview:
            self._shown, self.image, self.pasted = settings, image, self.paste(image)
        return image

    def paste(self, face):
        """The photo with ``face`` (uint8 [R, R, 3]) pasted back over the face's quad: uint8 [H, W, 3]; None
        without a photo."""
        return None if self.photo is None else paste_edits(self.photo.photo, [self.photo.quad], [[face]])[0]

    def accept(self):
        """Make the current edit the starting point of the next (chained edits); strength goes back to 0."""
        if self.direction is None:
            raise UserError("no edit to accept: type a target description and move the strength slider")
        if self.strength == 0:
            raise UserError("at strength 0 the edit changes nothing: move the strength slider, then Accept")
        image = self.editor.render(self.styles) if self.image is None else self.image
        self.history.append((self.description, self.styles, image, self.edit_spec))
        self._rebase(keep_direction=True)

    def undo(self):
        """Drop the last accepted edit: its starting point becomes the base again."""
        if not self.history:
            raise UserError("no accepted edit to undo")
        self.history.pop()
        self._rebase()

    def reset(self):
        """Go back to the face as picked, without edits."""
        self.history.clear()
        self._rebase()

    def _rebase(self, keep_direction=False):
        self.base, self.base_image = (self.history[-1][1:3] if self.history else (self.original, self.original_image))
        self.base_pasted = self.pasted = self.paste(self.base_image)
        self.base_id = next(_BASE_IDS)
        if not keep_direction:
            self.direction = None
        self.strength, self.image, self._shown = 0.0, None, None

    def history_text(self):
        """Markdown list of the accepted edits, each as its line of a recipe (``recipe_lines``)."""
        if not self.history:
            return "No accepted edits."
        return "Accepted edits (a recipe of composed edits):\n" + "\n".join(
            f"{i}. `{edit_text(spec)}`" for i, (_, _, _, spec) in enumerate(self.history, 1))

    def recipe_lines(self):
        """The accepted edits and the edit on top (unless at strength 0), one recipe line each (``edit_text``):
        composed, they give the S code of the edit shown."""
        current = [self.edit_spec] if self.direction is not None and self.strength != 0 else []
        return [edit_text(spec) for spec in [entry[3] for entry in self.history] + current]

    def export(self, strip_strengths, progress=iter):
        """Write the edit command's files into a new folder, delete the previous export's; returns the paths.

        The files are those of ``styleganv2clip.py --direction_offset <strip_offsets> <alpha>``
        for ``base``: src.editing.png, dst.editing_{strength}.png, dst.editing.png (the current
        strength), the strip and dst.editing.pd; for a face from a photo also that command's
        ``<stem>.edited_{strength}.png`` and ``<stem>.edited.png`` (the photo with the face pasted back);
        and ``RECIPE_NAME``, the accepted edits and the current one as a recipe (``recipe_lines``) that
        the edit command composes into the same dst.editing.pd. ``progress`` wraps the list of renders.
        """
        self._check_edit("export")
        strengths = tuple(strength for strength in strip_strengths if strength != self.strength) + (self.strength,)
        known = {0.0: self.base_image} if self.image is None else {0.0: self.base_image, self.strength: self.image}
        missing = [strength for strength in strengths if strength not in known]
        for strength in progress(missing):
            known[strength] = self.render_at(strength)
        faces = [known[strength] for strength in strengths]
        images = np.stack([self.base_image] + faces)[None]

        def write(folder):
            photo_files = {} if self.photo is None else photo_edit_files(
                folder, self.photo.stem, strengths,
                paste_edits(self.photo.photo, [self.photo.quad], [[face] for face in faces]))
            recipe = {os.path.join(folder, RECIPE_NAME): functools.partial(write_recipe, lines=self.recipe_lines())}
            self.editor.model_thread.call(self.editor.predictor.save, images, self.styles, strengths, folder,
                                          photo_files, recipe)
            names = [SRC_NAME] + [strength_file_name(strength) for strength in strengths] + [
                DST_NAME, STRIP_NAME, STYLES_NAME]
            return [os.path.join(folder, name) for name in names] + list(photo_files) + list(recipe)

        return self._exported(write)

    def export_sweep(self, strip_strengths, frames, labelled=True, progress=iter):
        """Write the strength sweep of the edit shown into a new folder, delete the previous export's; returns
        the paths.

        The sweep files of ``styleganv2clip.py --direction_offset <strip_offsets> <alpha> --sweep <frames>``:
        dst.editing_sweep.gif and .mp4 (``ppgan.styleclip.sweep``: from the smallest of the strip strengths and
        the current one to the largest and back), for a face from a photo also ``<stem>.edited_sweep.gif``
        and ``.mp4`` (the photo with the face pasted back). ``progress`` wraps the list of renders.
        """
        self._check_edit("export")
        sweep = check_sweep(frames, SWEEP_FPS, labelled)
        frame_strengths = sweep_strengths(tuple(dict.fromkeys(tuple(strip_strengths) + (self.strength,))),
                                          sweep.frames)
        rendered = {strength: self.render_at(strength) for strength in progress(list(dict.fromkeys(frame_strengths)))}
        faces = np.stack([rendered[strength] for strength in frame_strengths])

        def write(folder):
            files = sweep_files(os.path.join(folder, SWEEP_NAME), sweep_frames(faces, frame_strengths, labelled),
                                sweep.fps)
            if self.photo is not None:
                photos = paste_edits(self.photo.photo, [self.photo.quad], [[face] for face in faces])
                files.update(sweep_files(photo_sweep_stem(folder, self.photo.stem),
                                         sweep_frames(np.stack(photos), frame_strengths, labelled), sweep.fps))
            with atomic_files(folder) as staged:
                for path, write_file in files.items():
                    write_file(staged.path(path))
            return list(files)

        return self._exported(write)

    def render_at(self, strength):
        """The full render of the current edit at ``strength``: uint8 [R, R, 3]."""
        return self.editor.render(edit_styles(self.base, self.direction.delta_s, strength))

    def _check_edit(self, action):
        if self.direction is None:
            raise UserError(f"no edit to {action}: type a target description and move the strength slider")

    def _exported(self, write):
        """``write(folder)`` into a new export folder, which then replaces the previous export; its result."""
        folder = tempfile.mkdtemp(prefix=EXPORT_PREFIX)
        _EXPORT_FOLDERS.add(folder)
        try:
            written = write(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            _EXPORT_FOLDERS.discard(folder)
            raise
        self.close()
        self.export_folder = folder
        return written

    def close(self):
        """Delete the last export's folder (the page copied its files for download)."""
        if self.export_folder is not None:
            shutil.rmtree(self.export_folder, ignore_errors=True)
            _EXPORT_FOLDERS.discard(self.export_folder)
            self.export_folder = None

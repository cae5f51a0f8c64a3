"""A local web page for StyleCLIP edits: Gradio over ``StyleGANv2ClipPredictor``.

    python applications/tools/styleclip_app.py [model flags] [--host 127.0.0.1] [--port 7860]

Text features and edit directions are cached, so moving a slider only renders:
a low-resolution preview while it moves (the image of the generator's skip path
at ``preview_size``, with no work past that layer), the full resolution on release (or a pause
in typing). All model work runs on one thread (``ppgan.utils.model_thread``).
"""
import argparse
import collections
import functools
import itertools
import os
import shutil
import tempfile

if __name__ == "__main__":  # python -m ppgan.apps.styleclip_app: set up before paddle loads
    from ppgan.utils.runtime import configure_cpu_runtime

    configure_cpu_runtime(keep_freed_memory=False)  # a server: return freed memory to the system

import numpy as np  # noqa: E402
import paddle  # noqa: E402
from PIL import Image  # noqa: E402

from ..faceutils import paste_edits  # noqa: E402
from ..models.generators import StyleGANv2Generator  # noqa: E402
from ..models.generators.fast_synthesis import SynthesisProgram  # noqa: E402
from ..styleclip.directions import edit_styles  # noqa: E402
from ..utils.checks import check_seed  # noqa: E402
from ..utils.cli import add_generator_args, check_port_free, generator_spec, run_cli  # noqa: E402
from ..utils.errors import UserError  # noqa: E402
from ..utils.image import to_uint8  # noqa: E402
from ..utils.model_thread import shared_model_thread  # noqa: E402
from .inversion import PhotoInverter  # noqa: E402
from .styleganv2clip_predictor import (  # noqa: E402
    DEFAULT_BETA,
    DEFAULT_OFFSET,
    DST_NAME,
    SRC_NAME,
    STRIP_NAME,
    STYLES_NAME,
    TEMPLATE_SETS,
    StyleGANv2ClipPredictor,
    as_beta,
    as_offsets,
    check_texts,
    offset_name,
    photo_edit_files,
    psp_spec,
)

PREVIEW_SIZE = 256
ALPHA_RANGE = (-10.0, 10.0)
BETA_RANGE = (0.05, 0.4)
STRIP_ALPHAS = "-5 -2.5 0 2.5 5"
DIRECTION_CACHE = 256
IMAGE_HEIGHT = 420  # display height of the images, in CSS pixels
PHOTO_DISPLAY_SIDE = 1600  # longest side of the edited photo the page shows (the export keeps the photo's size)
MODEL_QUEUE = "model"  # every event that touches Paddle runs in this one queue, one at a time
DELETE_CACHE = (600, 3600)  # Gradio deletes its cached uploads and images older than an hour, every 10 minutes
EXAMPLES = (("face", "smiling face"), ("face", "face with glasses"), ("face", "face with a beard"),
            ("face", "surprised face"), ("face with hair", "face with blond hair"), ("face", "old face"))
KEY_SETTLE_MS = 400  # a slider's keyboard input (typed value, arrow keys) renders in full after this pause
# The images fill their panes whatever their size (a preview is smaller than the full render).
PAGE_CSS = ".fit img { width: 100%; height: 100%; object-fit: contain; }"
# Gradio renders a slider in full on pointer release only: typed values and arrow keys release it
# after KEY_SETTLE_MS without a key.
PAGE_HEAD = """<script>
(() => {
  const timers = new Map();
  document.addEventListener("keyup", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.closest("#alpha, #beta")) return;
    clearTimeout(timers.get(input));
    timers.set(input, setTimeout(() => input.dispatchEvent(new PointerEvent("pointerup", {bubbles: true})), %d));
  }, true);
})();
</script>""" % KEY_SETTLE_MS


def preview_generator(generator, size):
    """The blocks of ``generator`` up to resolution ``size`` as a generator of their own, weights copied.

    Its output is the full generator's skip image after the toRGB layer at ``size``;
    its S code is the first ``len(channels_lst)`` entries of the full one.
    """
    if not 8 <= size < generator.size or size & (size - 1):
        raise UserError(f"preview size {size} is not a power of 2 from 8 to {generator.size // 2}")
    preview = StyleGANv2Generator(size, generator.style_dim, 0, channels=generator.channels)
    weights = generator.state_dict()
    preview.set_state_dict({key: weights[key] for key in preview.state_dict()})
    preview.eval()
    return preview


class Editor:
    """What every page session shares: the predictor, the preview renderer and cached edit directions.

    ``preview_size`` is capped at half the generator's resolution. ``eager`` picks the
    preview's synthesis path as ``SynthesisProgram`` does (None: Paddle Inference on CPU).
    Every model call runs on ``model_thread`` (default: the process's shared one), so the
    methods are safe to call from any number of threads at once.
    """

    def __init__(self, predictor, preview_size=PREVIEW_SIZE, eager=None, model_thread=None):
        self.predictor = predictor
        self.model_thread = model_thread or shared_model_thread()
        self.preview_size = min(preview_size, predictor.generator.size // 2)
        self.preview_program = self.model_thread.call(
            lambda: SynthesisProgram(preview_generator(predictor.generator, self.preview_size), eager=eager))
        self._cached_direction = functools.lru_cache(maxsize=DIRECTION_CACHE)(self._direction)

    def _direction(self, neutral, target, beta):
        check_texts(neutral, target, self.predictor.templates)
        return self.predictor.style_direction(self.predictor.text_direction.delta_t(neutral, target), beta)

    def direction(self, neutral, target, beta):
        """EditDirection of (neutral, target, beta or 'auto'), cached (CLIP runs once per text)."""
        return self.model_thread.call(self._cached_direction, neutral, target, beta)

    def styles(self, latent):
        """W+ [n_latent, style_dim] -> S code: list of float32 numpy [1, C_l]."""
        return self.model_thread.call(self._styles, latent)

    def _styles(self, latent):
        with paddle.no_grad():
            return [s.numpy() for s in self.predictor.generator.style_affine(paddle.to_tensor(latent[None]))]

    def render(self, styles, preview=False):
        """S code -> uint8 [R, R, 3]: R is the generator's size, or ``preview_size`` for a preview."""
        return self.model_thread.call(self._render, styles, preview)

    def _render(self, styles, preview):
        if not preview:
            return self.predictor.render_styles(styles)[0]
        program = self.preview_program
        return to_uint8(program([paddle.to_tensor(s) for s in styles[:program.generator.num_style_layers]]))[0]

    def seed_latent(self, seed):
        """W+ of the face the edit command samples with ``--seed seed``."""
        return self.model_thread.call(lambda: self.predictor.sample_latents(1, seed=int(seed)).numpy()[0])

    def source_latent(self, path=None):
        """W+ of the first face of a .npy file (see ``read_latents``), or of the predictor's seed."""
        return self.model_thread.call(lambda: self.predictor.source_latents(path)[0])


PhotoFace = collections.namedtuple("PhotoFace", "stem photo quad")
PhotoFace.__doc__ = ("The photo a page's face came from: stem (the upload's file name without extension), "
                     "photo (uint8 [H, W, 3]) and quad (float64 [4, 2], the face's alignment quad in it).")


def photo_face(path, inverted):
    """PhotoFace of the largest face of ``inverted`` (the ``InvertedPhoto`` of the upload at ``path``)."""
    return PhotoFace(os.path.splitext(os.path.basename(path))[0], np.asarray(inverted.photo), inverted.faces[0].quad)


def display_copy(photo, longest_side=PHOTO_DISPLAY_SIDE):
    """uint8 [H, W, 3] -> itself when its longest side is at most ``longest_side``, else a copy scaled down to
    it (box filter): a phone photo is not re-encoded and sent to the browser at full size after every render."""
    if photo is None or max(photo.shape[:2]) <= longest_side:
        return photo
    scale = longest_side / max(photo.shape[:2])
    size = (max(1, round(photo.shape[1] * scale)), max(1, round(photo.shape[0] * scale)))
    return np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BOX))


_BASE_IDS = itertools.count(1)


class EditSession:
    """One face being edited on one page: the picked S code, the accepted edits and the edit on top.

    ``original`` is the face as picked, ``history`` the accepted edits (description, S
    code, image), oldest first, ``base`` the start of the current edit (the last accepted
    edit, or the original), ``direction`` and ``alpha`` the edit, ``image`` its last full
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
        return self.base if self.direction is None else edit_styles(self.base, self.direction.delta_s, self.alpha)

    def edit(self, neutral, target, beta, alpha, preview=False):
        """Edit ``base`` with (neutral, target, beta or 'auto') at strength alpha and render it.

        Returns the image, or None when the page already shows these settings in full.
        A UserError (bad text, no channel kept) leaves the session without an edit.
        """
        settings = (neutral, target, beta, float(alpha))
        if settings == self._shown:
            return None
        self.direction = self._shown = self.image = None  # and so they stay if the direction raises
        self.pasted = self.base_pasted
        self.direction, self.alpha = self.editor.direction(neutral, target, as_beta(beta)), float(alpha)
        self.description = f"'{neutral}' -> '{target}' at {self.alpha:g} (beta {self.direction.beta:g})"
        image = self.editor.render(self.styles, preview)
        if not preview:
            self._shown, self.image, self.pasted = settings, image, self.paste(image)
        return image

    def paste(self, face):
        """The photo with ``face`` (uint8 [R, R, 3]) pasted back over the face's quad: uint8 [H, W, 3]; None
        without a photo."""
        return None if self.photo is None else paste_edits(self.photo.photo, [self.photo.quad], [[face]])[0]

    def accept(self):
        """Make the current edit the starting point of the next (chained edits); alpha goes back to 0."""
        if self.direction is None:
            raise UserError("no edit to accept: type a target description and move the strength slider")
        if self.alpha == 0:
            raise UserError("at strength 0 the edit changes nothing: move the strength slider, then Accept")
        image = self.editor.render(self.styles) if self.image is None else self.image
        self.history.append((self.description, self.styles, image))
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
        self.base, self.base_image = (self.history[-1][1:] if self.history else (self.original, self.original_image))
        self.base_pasted = self.pasted = self.paste(self.base_image)
        self.base_id = next(_BASE_IDS)
        if not keep_direction:
            self.direction = None
        self.alpha, self.image, self._shown = 0.0, None, None

    def history_text(self):
        """Markdown list of the accepted edits."""
        if not self.history:
            return "No accepted edits."
        return "Accepted edits:\n" + "\n".join(f"{i}. {text}" for i, (text, _, _) in enumerate(self.history, 1))

    def export(self, strip_offsets, progress=iter):
        """Write the edit command's files into a new folder, delete the previous export's; returns the paths.

        The files are those of ``styleganv2clip.py --direction_offset <strip_offsets> <alpha>``
        for ``base``: src.editing.png, dst.editing_{offset}.png, dst.editing.png (the current
        strength), the strip and dst.editing.pd; for a face from a photo also that command's
        ``<stem>.edited_{offset}.png`` and ``<stem>.edited.png`` (the photo with the face pasted back).
        ``progress`` wraps the list of renders.
        """
        if self.direction is None:
            raise UserError("no edit to export: type a target description and move the strength slider")
        offsets = tuple(offset for offset in strip_offsets if offset != self.alpha) + (self.alpha,)
        known = {0.0: self.base_image} if self.image is None else {0.0: self.base_image, self.alpha: self.image}
        missing = [offset for offset in offsets if offset not in known]
        for offset in progress(missing):
            known[offset] = self.editor.render(edit_styles(self.base, self.direction.delta_s, offset))
        faces = [known[offset] for offset in offsets]
        images = np.stack([self.base_image] + faces)[None]
        folder = tempfile.mkdtemp(prefix="styleclip_app_")
        try:
            photo_files = {} if self.photo is None else photo_edit_files(
                folder, self.photo.stem, offsets,
                paste_edits(self.photo.photo, [self.photo.quad], [[face] for face in faces]))
            self.editor.model_thread.call(self.editor.predictor.save, images, self.styles, offsets, folder,
                                          photo_files)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.close()
        self.export_folder = folder
        names = [SRC_NAME] + [offset_name(offset) for offset in offsets] + [DST_NAME, STRIP_NAME, STYLES_NAME]
        return [os.path.join(folder, name) for name in names] + list(photo_files)

    def close(self):
        """Delete the last export's folder (the page copied its files for download)."""
        if self.export_folder is not None:
            shutil.rmtree(self.export_folder, ignore_errors=True)
            self.export_folder = None


def parse_strengths(text):
    """Strip strengths as typed ("-5 -2.5 0 2.5 5", commas allowed) -> tuple of distinct floats."""
    tokens = text.replace(",", " ").split()
    if not tokens:
        raise UserError(f"no strip strength: type one or more numbers, e.g. {STRIP_ALPHAS}")
    values = []
    for token in tokens:
        try:
            values.append(float(token))
        except ValueError:
            raise UserError(f"strip strength {token!r} is not a number: type numbers, e.g. {STRIP_ALPHAS}") from None
    return as_offsets(values)


def channel_message(direction, neutral, target, preview_size=None):
    """Status line of an edit: how many channels move, at which beta."""
    where = f" (preview {preview_size} px)" if preview_size else ""
    return (f"'{neutral}' -> '{target}': beta {direction.beta:g} moves **{direction.moved}** of "
            f"{direction.channels} style channels (max |r| {direction.max_relevance:.3f}){where}")


def error_message(exc, path=None):
    """Status line of a UserError; a server-side upload ``path`` in it is shown as the uploaded file's name."""
    text = str(exc)
    if path:
        text = text.replace(path, os.path.basename(path))
    return f"**Error:** {text}"


def build_app(predictor, latent=None, neutral="face", target="", alpha=DEFAULT_OFFSET, beta=DEFAULT_BETA,
              preview_size=PREVIEW_SIZE, photo_inverter=None, eager=None, delete_cache=DELETE_CACHE):
    """The page as a ``gradio.Blocks``; serve it with ``launch_app``.

    ``latent``: the first face (W+ [n_latent, style_dim]; None: the predictor's seed);
    neutral, target, alpha, beta ('auto' or a number): the first edit (applied at once when
    ``target`` is given; otherwise the strength starts at 0); ``photo_inverter``: a ``PhotoInverter``
    (``invert(path, max_faces, extra_faces)`` -> ``InvertedPhoto``), which adds the Photo tab and,
    for a photo's face, the edited photo; ``delete_cache``: Gradio's (every s, older than s)
    clean-up of its cached uploads and images.
    """
    import gradio as gr

    editor = Editor(predictor, preview_size, eager)
    auto = as_beta(beta) == "auto"
    first_beta = DEFAULT_BETA if auto else min(max(as_beta(beta), BETA_RANGE[0]), BETA_RANGE[1])
    first_alpha = float(alpha) if target.strip() else 0.0

    with gr.Blocks(title="StyleCLIP global directions", delete_cache=delete_cache) as app:
        session_state = gr.State(delete_callback=lambda old: old and old.close())
        gr.Markdown("# StyleCLIP global directions\nEdit a face with text: describe it as it is (neutral) and "
                    "as it should become (target).")
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Tab("Seed"):
                    seed = gr.Number(value=predictor.seed, precision=0, label="Seed", elem_id="seed")
                    sample = gr.Button("Sample face")
                with gr.Tab("Latent (.npy)"):
                    latent_file = gr.File(label="W+ .npy", file_types=[".npy"], type="filepath", elem_id="latent")
                if photo_inverter is not None:
                    with gr.Tab("Photo"):
                        photo = gr.File(label="Face photo", file_types=["image"], type="filepath", elem_id="photo")
                        with gr.Row():
                            aligned = gr.Image(label="Aligned photo", format="png", interactive=False,
                                               elem_id="aligned", elem_classes="fit")
                            inversion = gr.Image(label="Its inversion", format="png", interactive=False,
                                                 elem_id="inversion", elem_classes="fit")
                neutral_box = gr.Textbox(neutral, label="Neutral", elem_id="neutral")
                target_box = gr.Textbox(target, label="Target", placeholder="e.g. smiling face", elem_id="target")
                apply = gr.Button("Apply text", variant="primary")
                examples = gr.Examples([list(pair) for pair in EXAMPLES], [neutral_box, target_box],
                                       label="Example edits")
                alpha_slider = gr.Slider(*ALPHA_RANGE, value=first_alpha, step=0.1, label="Strength (alpha)",
                                         elem_id="alpha")
                beta_slider = gr.Slider(*BETA_RANGE, value=first_beta, step=0.01,
                                        label="Disentanglement (beta)", elem_id="beta")
                auto_box = gr.Checkbox(auto, label="auto beta (largest of 0.10..0.29 moving more than 20 channels)")
                with gr.Row():
                    accept = gr.Button("Accept")
                    undo = gr.Button("Undo")
                    reset = gr.Button("Reset")
                history = gr.Markdown("No accepted edits.", elem_id="history")
                base_id_box = gr.Number(0, precision=0, visible=False, elem_id="base_id")  # EditSession.base_id
            with gr.Column(scale=2):
                with gr.Row():
                    original = gr.Image(label="Original", format="png", interactive=False, height=IMAGE_HEIGHT,
                                        elem_id="original", elem_classes="fit")
                    edited = gr.Image(label="Edited", format="png", interactive=False, height=IMAGE_HEIGHT,
                                      elem_id="edited", elem_classes="fit")
                edited_photo = gr.Image(label="Edited photo (the face pasted back)", format="png", interactive=False,
                                        height=IMAGE_HEIGHT, visible=False, elem_id="edited_photo",
                                        elem_classes="fit")
                status = gr.Markdown(elem_id="status")
                with gr.Row():
                    strip_alphas = gr.Textbox(STRIP_ALPHAS, label="Strip strengths", elem_id="strip")
                    export_button = gr.Button("Export files")
                downloads = gr.File(label="Downloads", file_count="multiple", interactive=False)

        def photo_shown(session):
            """The edited photo pane: the session's pasted photo, hidden for a face without a photo."""
            return gr.update(value=display_copy(session.pasted), visible=session.photo is not None)

        def face_shown(session, message):
            return {session_state: session, original: session.base_image, edited: session.base_image,
                    edited_photo: photo_shown(session), alpha_slider: session.alpha,
                    history: session.history_text(), base_id_box: session.base_id, status: message}

        def start():
            new = EditSession(editor, editor.source_latent() if latent is None else latent)
            shown = face_shown(new, "Type a target description, then move the strength slider.")
            if target.strip():
                try:
                    shown[edited] = new.edit(neutral, target, "auto" if auto else first_beta, first_alpha)
                    shown[alpha_slider] = first_alpha
                    shown[status] = channel_message(new.direction, neutral, target)
                except UserError as exc:
                    shown[status] = error_message(exc)
            return shown

        def picked(old, make_session, source, progress, upload=None):
            progress(0, desc="Loading the face")
            try:
                session = make_session(source)
            except UserError as exc:
                return {status: error_message(exc, upload)}
            if old is not None:
                old.close()
            return face_shown(session, "New face: type a target description, then move the strength slider.")

        def pick_seed(old, seed, progress=gr.Progress()):
            return picked(old, lambda seed: EditSession(editor, editor.seed_latent(seed)), seed, progress)

        def pick_latent(old, path, progress=gr.Progress()):
            if path is None:
                return {status: gr.skip()}
            return picked(old, lambda path: EditSession(editor, editor.source_latent(path)), path, progress, path)

        def pick_photo(old, path, progress=gr.Progress()):
            if path is None:
                return {status: gr.skip()}
            inverted = []

            def photo_session(path):
                inverted.append(editor.model_thread.call(photo_inverter.invert, path, 1, "ignore"))
                return EditSession(editor, inverted[0].latents[0], photo_face(path, inverted[0]))

            shown = picked(old, photo_session, path, progress, path)
            if session_state in shown:
                shown.update({aligned: np.asarray(inverted[0].faces[0].image), inversion: shown[original]})
            return {**shown, photo: None}  # the upload area is ready for the next photo

        def edit(session, neutral, target, beta, auto, alpha, base_id=None, preview=False):
            if base_id is not None and int(base_id) != session.base_id:
                return {status: gr.skip()}  # sent for a face the page no longer shows (e.g. a late slider release)
            try:
                image = session.edit(neutral, target, "auto" if auto else beta, alpha, preview)
            except UserError as exc:
                shown = {edited: session.base_image, status: error_message(exc)}
            else:
                if image is None:
                    return {status: gr.skip()}
                shown = {edited: image, status: channel_message(session.direction, neutral, target,
                                                                editor.preview_size if preview else None)}
            return shown if preview else {**shown, edited_photo: display_copy(session.pasted)}  # previews: no photo

        def full(session, neutral, target, beta, auto, alpha, base_id=None, progress=gr.Progress()):
            progress(0, desc="Rendering")
            return edit(session, neutral, target, beta, auto, alpha, base_id)

        def preview(session, neutral, target, beta, auto, alpha, base_id=None):
            return edit(session, neutral, target, beta, auto, alpha, base_id, preview=True)

        def rebased(session, change, message):
            try:
                change()
            except UserError as exc:
                return {status: error_message(exc)}
            return face_shown(session, message)

        def accept_edit(session):
            return rebased(session, session.accept, "Accepted: the edit is the new starting point.")

        def undo_edit(session):
            return rebased(session, session.undo, "Undone: back to the previous starting point.")

        def reset_face(session):
            return rebased(session, session.reset, "Back to the picked face.")

        def export(session, strip_text, progress=gr.Progress()):
            progress(0, desc="Exporting")
            try:
                paths = session.export(parse_strengths(strip_text),
                                       lambda offsets: progress.tqdm(offsets, desc="Rendering the strip"))
            except UserError as exc:
                return {status: error_message(exc)}
            pasted = ", the photo with the face pasted back" if session.photo is not None else ""
            return {downloads: paths, status: "Exported the files of the edit command (source, every strength, "
                                              f"the current edit as dst.editing.png, the strip, the S code{pasted}) "
                                              "below."}

        queued = dict(concurrency_limit=1, concurrency_id=MODEL_QUEUE)
        face_outputs = [session_state, original, edited, edited_photo, alpha_slider, history, base_id_box, status]
        edit_inputs = [session_state, neutral_box, target_box, beta_slider, auto_box, alpha_slider, base_id_box]
        preview_outputs = [edited, status]
        edit_outputs = preview_outputs + [edited_photo]
        app.load(start, None, face_outputs, **queued)
        sample.click(pick_seed, [session_state, seed], face_outputs, **queued)
        latent_file.upload(pick_latent, [session_state, latent_file], face_outputs, **queued)
        if photo_inverter is not None:
            photo.upload(pick_photo, [session_state, photo], face_outputs + [photo, aligned, inversion], **queued)
        for event in (apply.click, target_box.submit, neutral_box.submit, auto_box.input):
            event(full, edit_inputs, edit_outputs, **queued)
        examples.load_input_event.then(full, edit_inputs, edit_outputs, **queued)
        for slider in (alpha_slider, beta_slider):
            slider.input(preview, edit_inputs, preview_outputs, show_progress="hidden", trigger_mode="always_last",
                         **queued)
            slider.release(full, edit_inputs, edit_outputs, show_progress="minimal", trigger_mode="always_last",
                           **queued)
        accept.click(accept_edit, session_state, face_outputs, **queued)
        undo.click(undo_edit, session_state, face_outputs, **queued)
        reset.click(reset_face, session_state, face_outputs, **queued)
        export_button.click(export, [session_state, strip_alphas], [downloads, status], **queued)
    return app


def launch_app(app, **launch_kwargs):
    """Serve ``app`` (of ``build_app``) with its style and script: ``gradio.Blocks.launch(**launch_kwargs)``."""
    return app.queue().launch(css=PAGE_CSS, head=PAGE_HEAD, ssr_mode=False, **launch_kwargs)


def app_parser():
    """The app's flags: the edit command's model flags, the first face and edit, and where to listen."""
    parser = argparse.ArgumentParser(prog="styleclip_app.py", description="A local web page to edit StyleGAN2 faces "
                                     "with text (StyleCLIP global directions).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    parser.add_argument("--latent", default=None,
                        help="first face: W+ .npy [18,512] (the first of [N,18,512]; default: sampled from --seed)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the first sampled face (default 0)")
    parser.add_argument("--neutral", default="face", help="first neutral description (default: face)")
    parser.add_argument("--target", default="", help="first target description, e.g. 'smiling face'")
    parser.add_argument("--beta_threshold", default=str(DEFAULT_BETA),
                        help=f"first beta ({BETA_RANGE[0]}..{BETA_RANGE[1]}), or auto (default {DEFAULT_BETA})")
    parser.add_argument("--direction_offset", type=float, default=DEFAULT_OFFSET,
                        help=f"first strength alpha (default {DEFAULT_OFFSET:g})")
    parser.add_argument("--preview_size", type=int, default=PREVIEW_SIZE,
                        help=f"resolution of the preview while a slider moves (default {PREVIEW_SIZE})")
    parser.add_argument("--direction_path", default=None,
                        help="global directions: PaddleGAN .pdparams [C,512] or official fs3.npy "
                             "(default: the ffhq-config-f release)")
    parser.add_argument("--stat_path", default=None, help="S statistics, read with --scale_by_std")
    parser.add_argument("--scale_by_std", action="store_true",
                        help="official StyleCLIP convention: multiply each channel's edit by its std")
    parser.add_argument("--clip_weight_path", default=None, help="CLIP ViT-B-32 .pdparams (default: the release)")
    parser.add_argument("--templates", choices=TEMPLATE_SETS, default="paddlegan",
                        help="prompt templates: paddlegan (46) or official (79)")
    parser.add_argument("--psp_weight_path", default=None,
                        help="pSp .pdparams for photos (default: the inverter the generator's config names; "
                             "without one the page has no photo tab)")
    parser.add_argument("--landmark_model", default=None, help="dlib 68-landmark model for photos")
    add_generator_args(parser)
    return parser


def main(argv=None):
    """Check the flags, load the models, serve the page until interrupted."""
    from ..utils.runtime import select_device

    args = app_parser().parse_args(argv)
    beta = as_beta(args.beta_threshold)
    as_offsets(args.direction_offset)
    check_seed("--seed", args.seed)
    check_port_free(args.host, args.port)
    spec = generator_spec(args)
    psp = psp_spec(spec, args.psp_weight_path) if args.psp_weight_path or spec.inverter else None
    model_thread = shared_model_thread()  # creates and runs every model of the page
    model_thread.call(select_device, args.cpu)
    predictor = model_thread.call(StyleGANv2ClipPredictor, direction_path=args.direction_path,
                                  stat_path=args.stat_path, clip_weight_path=args.clip_weight_path, seed=args.seed,
                                  templates=args.templates, scale_by_std=args.scale_by_std, spec=spec)
    latent = None if args.latent is None else model_thread.call(predictor.source_latents, args.latent)[0]
    g = predictor.generator
    inverter = None if psp is None else PhotoInverter(landmark_model=args.landmark_model, spec=psp,
                                                      latent_shape=(g.n_latent, g.style_dim))
    # Files named on the command line are read now, so a bad one is refused before the page is served;
    # released files are fetched on first use.
    if args.clip_weight_path:
        model_thread.call(lambda: predictor.text_direction)
    if args.psp_weight_path:
        model_thread.call(lambda: inverter.psp.model)
    app = build_app(predictor, latent, args.neutral, args.target, args.direction_offset, beta, args.preview_size,
                    inverter)
    launch_app(app, server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    run_cli(main)

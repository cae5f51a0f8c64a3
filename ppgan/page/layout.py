"""The Gradio page: its look (sizes, CSS, the key-release script), its components and its event handlers.

``build_app`` lays out one ``Page`` (its components, then its events); ``launch_app`` serves
it. Every event that touches Paddle runs in one Gradio queue, one at a time; the models
run on the model thread (``Editor``). Importing this module imports Gradio (seconds).
"""
import gradio as gr
import numpy as np
from PIL import Image

from ..faceutils import load_rgb
from ..styleclip.edit import DEFAULT_BETA, DEFAULT_STRENGTH, as_beta, as_strengths
from ..utils.errors import UserError
from .service import BETA_RANGE, PREVIEW_SIZE, Editor
from .session import EditSession, PhotoFaces, photo_face
from .words import (
    NEW_FACE,
    channel_message,
    error_message,
    face_choices,
    face_message,
    slider_value,
)

STRENGTH_RANGE = (-10.0, 10.0)
STRIP_STRENGTHS = "-5 -2.5 0 2.5 5"
SWEEP_FRAMES = 24  # the Sweep frames field's first value
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


def display_copy(photo, longest_side=PHOTO_DISPLAY_SIDE):
    """uint8 [H, W, 3] -> itself when its longest side is at most ``longest_side``, else a copy scaled down to
    it (box filter): a phone photo is not re-encoded and sent to the browser at full size after every render."""
    if photo is None or max(photo.shape[:2]) <= longest_side:
        return photo
    scale = longest_side / max(photo.shape[:2])
    size = (max(1, round(photo.shape[1] * scale)), max(1, round(photo.shape[0] * scale)))
    return np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BOX))


def parse_strengths(text):
    """Strip strengths as typed ("-5 -2.5 0 2.5 5", commas allowed) -> tuple of distinct floats."""
    tokens = text.replace(",", " ").split()
    if not tokens:
        raise UserError(f"no strip strength: type one or more numbers, e.g. {STRIP_STRENGTHS}")
    values = []
    for token in tokens:
        try:
            values.append(float(token))
        except ValueError:
            raise UserError(f"strip strength {token!r} is not a number: type numbers, e.g. {STRIP_STRENGTHS}") from None
    return as_strengths(values)


class Page:
    """One page's components and event handlers.

    A handler takes the values of its inputs (the ``EditSession`` first) and returns
    {component: new value}. ``editor``: the ``Editor``; ``latent``: the first face (W+
    [n_latent, style_dim]; None: the predictor's seed); neutral, target, strength, beta: the first
    edit; ``photo_inverter``: a ``PhotoInverter`` or None (no Photo tab).
    """

    def __init__(self, editor, latent, neutral, target, strength, beta, photo_inverter):
        self.editor, self.latent, self.photo_inverter = editor, latent, photo_inverter
        self.neutral, self.target = neutral, target
        self.auto = as_beta(beta) == "auto"
        self.first_beta = DEFAULT_BETA if self.auto else min(max(as_beta(beta), BETA_RANGE[0]), BETA_RANGE[1])
        self.first_strength = float(strength) if target.strip() else 0.0

    def lay_out_title(self):
        """The session state (an ``EditSession`` per browser tab, its export deleted with it) and the title."""
        self.session_state = gr.State(delete_callback=lambda old: old and old.close())
        gr.Markdown("# StyleCLIP global directions\nEdit a face with text: describe it as it is (neutral) and "
                    "as it should become (target).")

    def lay_out_faces(self, seed):
        """The face pickers: a seed, a W+ .npy, a photo (with a ``photo_inverter``)."""
        with gr.Tab("Seed"):
            self.seed = gr.Number(value=seed, precision=0, label="Seed", elem_id="seed")
            self.sample = gr.Button("Sample face")
        with gr.Tab("Latent (.npy)"):
            self.latent_file = gr.File(label="W+ .npy", file_types=[".npy"], type="filepath", elem_id="latent")
        if self.photo_inverter is not None:
            with gr.Tab("Photo"):
                self.photo = gr.File(label="Face photo", file_types=["image"], type="filepath", elem_id="photo")
                self.photo_state = gr.State()  # the photo's faces: a PhotoFaces
                self.face_menu = gr.Dropdown(label="Face", choices=[], visible=False, elem_id="face")
                with gr.Row():
                    self.aligned = gr.Image(label="Aligned photo", format="png", interactive=False,
                                            elem_id="aligned", elem_classes="fit")
                    self.inversion = gr.Image(label="Its inversion", format="png", interactive=False,
                                              elem_id="inversion", elem_classes="fit")

    def lay_out_edit(self):
        """The edit's inputs: texts, examples, sliders, Accept / Undo / Reset, the accepted edits."""
        self.neutral_box = gr.Textbox(self.neutral, label="Neutral", elem_id="neutral")
        self.target_box = gr.Textbox(self.target, label="Target", placeholder="e.g. smiling face", elem_id="target")
        self.apply = gr.Button("Apply text", variant="primary")
        self.examples = gr.Examples([list(pair) for pair in EXAMPLES], [self.neutral_box, self.target_box],
                                    label="Example edits")
        self.strength_slider = gr.Slider(*STRENGTH_RANGE, value=self.first_strength, step=0.1, label="Strength (alpha)",
                                      elem_id="alpha")
        self.beta_slider = gr.Slider(*BETA_RANGE, value=self.first_beta, step=0.01,
                                     label="Disentanglement (beta)", elem_id="beta")
        self.auto_box = gr.Checkbox(self.auto,
                                    label="auto beta (largest of 0.10..0.29 moving more than 20 channels)")
        with gr.Row():
            self.accept = gr.Button("Accept")
            self.undo = gr.Button("Undo")
            self.reset = gr.Button("Reset")
        self.history = gr.Markdown("No accepted edits.", elem_id="history")
        self.base_id_box = gr.Number(0, precision=0, visible=False, elem_id="base_id")  # EditSession.base_id

    def lay_out_images(self):
        """The image panes, the status line and the export."""
        with gr.Row():
            self.original = gr.Image(label="Original", format="png", interactive=False, height=IMAGE_HEIGHT,
                                     elem_id="original", elem_classes="fit")
            self.edited = gr.Image(label="Edited", format="png", interactive=False, height=IMAGE_HEIGHT,
                                   elem_id="edited", elem_classes="fit")
        self.edited_photo = gr.Image(label="Edited photo (the face pasted back)", format="png", interactive=False,
                                     height=IMAGE_HEIGHT, visible=False, elem_id="edited_photo", elem_classes="fit")
        self.status = gr.Markdown(elem_id="status")
        with gr.Row():
            self.strip_strengths = gr.Textbox(STRIP_STRENGTHS, label="Strip strengths", elem_id="strip")
            self.export_button = gr.Button("Export files")
        with gr.Row():
            self.sweep_frames = gr.Number(SWEEP_FRAMES, precision=0, label="Sweep frames", elem_id="sweep_frames")
            self.sweep_label_box = gr.Checkbox(True, label="strength label in the corner")
            self.sweep_button = gr.Button("Export sweep")
        self.downloads = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="downloads")

    def wire_events(self, app):
        """Connect every event of ``app`` to its handler, all in the model queue."""
        queued = dict(concurrency_limit=1, concurrency_id=MODEL_QUEUE)
        face_outputs = [self.session_state, self.original, self.edited, self.edited_photo, self.strength_slider,
                        self.history, self.base_id_box, self.status]
        if self.photo_inverter is not None:
            face_outputs.append(self.face_menu)  # hidden for a face without a photo
        edit_inputs = [self.session_state, self.neutral_box, self.target_box, self.beta_slider, self.auto_box,
                       self.strength_slider, self.base_id_box]
        preview_outputs = [self.edited, self.status]
        edit_outputs = preview_outputs + [self.edited_photo, self.strength_slider, self.beta_slider]
        # The sliders' values reach the handlers as the browser sent them (their number boxes take any text):
        # Gradio's own range check would fail the event; the handlers clamp them and say so.
        queued_edit = dict(queued, preprocess=False)
        app.load(self.start, None, face_outputs, **queued)
        self.sample.click(self.pick_seed, [self.session_state, self.seed], face_outputs, **queued)
        self.latent_file.upload(self.pick_latent, [self.session_state, self.latent_file], face_outputs, **queued)
        if self.photo_inverter is not None:
            photo_outputs = face_outputs + [self.photo_state, self.aligned, self.inversion]
            self.photo.upload(self.pick_photo, [self.session_state, self.photo], photo_outputs + [self.photo],
                              **queued)
            self.face_menu.input(self.pick_face, [self.session_state, self.photo_state, self.face_menu],
                                 photo_outputs, **queued)
        for event in (self.apply.click, self.target_box.submit, self.neutral_box.submit, self.auto_box.input):
            event(self.full, edit_inputs, edit_outputs, **queued_edit)
        self.examples.load_input_event.then(self.full, edit_inputs, edit_outputs, **queued_edit)
        for slider in (self.strength_slider, self.beta_slider):
            slider.input(self.preview, edit_inputs, preview_outputs, show_progress="hidden",
                         trigger_mode="always_last", **queued_edit)
            slider.release(self.full, edit_inputs, edit_outputs, show_progress="minimal", trigger_mode="always_last",
                           **queued_edit)
        self.accept.click(self.accept_edit, self.session_state, face_outputs, **queued)
        self.undo.click(self.undo_edit, self.session_state, face_outputs, **queued)
        self.reset.click(self.reset_face, self.session_state, face_outputs, **queued)
        self.export_button.click(self.export, [self.session_state, self.strip_strengths], [self.downloads, self.status],
                                 **queued)
        self.sweep_button.click(self.export_sweep, [self.session_state, self.strip_strengths, self.sweep_frames,
                                                    self.sweep_label_box], [self.downloads, self.status], **queued)

    def photo_shown(self, session):
        """The edited photo pane: the session's pasted photo, hidden for a face without a photo."""
        return gr.update(value=display_copy(session.pasted), visible=session.photo is not None)

    def face_shown(self, session, message):
        """Every pane of a face just picked or rebased, with the status ``message``."""
        return {self.session_state: session, self.original: session.base_image, self.edited: session.base_image,
                self.edited_photo: self.photo_shown(session), self.strength_slider: session.strength,
                self.history: session.history_text(), self.base_id_box: session.base_id, self.status: message}

    def start(self):
        """A new page: the first face, with the first edit when a target was given."""
        new = EditSession(self.editor, self.editor.source_latent() if self.latent is None else self.latent)
        shown = self.face_shown(new, "Type a target description, then move the strength slider.")
        if self.target.strip():
            try:
                beta = "auto" if self.auto else self.first_beta
                shown[self.edited] = new.edit(self.neutral, self.target, beta, self.first_strength)
                shown[self.strength_slider] = self.first_strength
                shown[self.status] = channel_message(new.direction, self.neutral, self.target, self.first_strength)
            except UserError as exc:
                shown[self.status] = error_message(exc)
        return shown

    def picked(self, old, make_session, source, progress, upload=None, message=NEW_FACE):
        """A new face from ``make_session(source)``, shown with the status ``message``; the ``old`` session's
        export is deleted. A face without a photo hides the Face menu."""
        progress(0, desc="Loading the face")
        try:
            session = make_session(source)
        except UserError as exc:
            return {self.status: error_message(exc, upload)}
        if old is not None:
            old.close()
        shown = self.face_shown(session, message)
        if self.photo_inverter is not None and session.photo is None:
            shown[self.face_menu] = gr.update(visible=False)
        return shown

    def pick_seed(self, old, seed, progress=gr.Progress()):
        return self.picked(old, lambda seed: EditSession(self.editor, self.editor.seed_latent(seed)), seed, progress)

    def pick_latent(self, old, path, progress=gr.Progress()):
        if path is None:
            return {self.status: gr.skip()}
        return self.picked(old, lambda path: EditSession(self.editor, self.editor.source_latent(path)), path,
                           progress, path)

    def pick_photo(self, old, path, progress=gr.Progress()):
        """A photo: every face aligned (largest first), the largest inverted and edited; the Face menu (a group
        photo) picks another."""
        if path is None:
            return {self.status: gr.skip()}
        progress(0, desc="Finding the faces")
        try:
            photo = load_rgb(path)
            faces = self.editor.model_thread.call(self.photo_inverter.align, photo, None, path)
        except UserError as exc:
            return {self.status: error_message(exc, path), self.photo: None}
        return {**self.photo_face_shown(old, PhotoFaces(path, photo, faces), 0, progress),
                self.photo: None}  # the upload area is ready for the next photo

    def pick_face(self, old, photo_faces, index, progress=gr.Progress()):
        """Another face of the photo, from the Face menu."""
        if photo_faces is None or index is None or (old is not None and old.photo is not None
                                                    and old.photo.index == index):
            return {self.status: gr.skip()}
        return self.photo_face_shown(old, photo_faces, int(index), progress)

    def photo_face_shown(self, old, photo_faces, index, progress):
        """Face ``index`` of ``photo_faces`` inverted and picked, with the Face menu and the aligned face."""
        face, count = photo_faces.faces[index], len(photo_faces.faces)

        def photo_session(face):
            latent = self.editor.model_thread.call(self.photo_inverter.latents, photo_faces.photo, [face])[0]
            return EditSession(self.editor, latent, photo_face(photo_faces.path, photo_faces.photo, face))

        shown = self.picked(old, photo_session, face, progress, photo_faces.path, face_message(index, count))
        if self.session_state in shown:
            shown.update({self.aligned: np.asarray(face.image), self.inversion: shown[self.original],
                          self.photo_state: photo_faces,
                          self.face_menu: gr.update(choices=face_choices(count), value=index, visible=count > 1)})
        return shown

    def edit(self, session, neutral, target, beta, auto, strength, base_id=None, preview=False):
        """Render the edit (a preview: at the preview size, without the pasted photo).

        The sliders' values come as the browser sent them: one out of its range is clamped to it (a full
        render also moves the slider there), and the status line says so; one that is not a number renders
        nothing and the status line asks for one.
        """
        if base_id is not None and int(base_id) != session.base_id:
            return {self.status: gr.skip()}  # sent for a face the page no longer shows (e.g. a late slider release)
        (strength, strength_note), (beta, beta_note) = (slider_value(strength, STRENGTH_RANGE, "Strength"),
                                                        slider_value(beta, BETA_RANGE, "Beta"))
        notes = "".join(f"{note} " for note in (strength_note, beta_note) if note)
        if strength is None or beta is None:
            return {self.status: notes}
        moved = {} if preview else {slider: value for slider, value, note in (
            (self.strength_slider, strength, strength_note), (self.beta_slider, beta, beta_note)) if note}
        try:
            image = session.edit(neutral, target, "auto" if auto else beta, strength, preview)
        except UserError as exc:
            return {self.edited: session.base_image, self.status: notes + error_message(exc), **moved,
                    **({} if preview else {self.edited_photo: display_copy(session.pasted)})}
        if image is None and not notes:
            return {self.status: gr.skip()}
        status = notes + channel_message(session.direction, neutral, target, strength,
                                         self.editor.preview_size if preview else None)
        shown = {self.status: status, **moved} if image is None else {self.edited: image, self.status: status, **moved}
        return shown if preview else {**shown, self.edited_photo: display_copy(session.pasted)}  # previews: no photo

    def full(self, session, neutral, target, beta, auto, strength, base_id=None, progress=gr.Progress()):
        progress(0, desc="Rendering")
        return self.edit(session, neutral, target, beta, auto, strength, base_id)

    def preview(self, session, neutral, target, beta, auto, strength, base_id=None):
        return self.edit(session, neutral, target, beta, auto, strength, base_id, preview=True)

    def rebased(self, session, change, message):
        """Every pane after ``change()`` (accept, undo, reset), or its error in the status line."""
        try:
            change()
        except UserError as exc:
            return {self.status: error_message(exc)}
        return self.face_shown(session, message)

    def accept_edit(self, session):
        return self.rebased(session, session.accept, "Accepted: the edit is the new starting point.")

    def undo_edit(self, session):
        return self.rebased(session, session.undo, "Undone: back to the previous starting point.")

    def reset_face(self, session):
        return self.rebased(session, session.reset, "Back to the picked face.")

    def export(self, session, strip_text, progress=gr.Progress()):
        progress(0, desc="Exporting")
        try:
            paths = session.export(parse_strengths(strip_text),
                                   lambda strengths: progress.tqdm(strengths, desc="Rendering the strip"))
        except UserError as exc:
            return {self.status: error_message(exc)}
        pasted = ", the photo with the face pasted back" if session.photo is not None else ""
        message = ("Exported the files of the edit command (source, every strength, the current edit as "
                   f"dst.editing.png, the strip, the S code{pasted}, the accepted edits as a recipe) below.")
        return {self.downloads: paths, self.status: message}

    def export_sweep(self, session, strip_text, frames, labelled, progress=gr.Progress()):
        """The strength sweep (GIF and MP4) of the edit shown, over the strip strengths and the current one."""
        progress(0, desc="Exporting the sweep")
        if isinstance(frames, float) and frames.is_integer():
            frames = int(frames)
        try:
            paths = session.export_sweep(parse_strengths(strip_text), frames, labelled,
                                         lambda strengths: progress.tqdm(strengths, desc="Rendering the sweep"))
        except UserError as exc:
            return {self.status: error_message(exc)}
        return {self.downloads: paths, self.status: "Exported the strength sweep (GIF and MP4) below."}


def build_app(predictor, latent=None, neutral="face", target="", strength=DEFAULT_STRENGTH, beta=DEFAULT_BETA,
              preview_size=PREVIEW_SIZE, photo_inverter=None, eager=None, delete_cache=DELETE_CACHE):
    """The page as a ``gradio.Blocks``; serve it with ``launch_app``.

    ``latent``: the first face (W+ [n_latent, style_dim]; None: the predictor's seed);
    neutral, target, strength, beta ('auto' or a number): the first edit (applied at once when
    ``target`` is given; otherwise the strength starts at 0); ``photo_inverter``: a ``PhotoInverter``
    (``align(photo, max_faces, name)`` -> its faces, ``latents(photo, faces)`` -> their W+), which adds the
    Photo tab (with a Face menu for a group photo) and, for a photo's face, the edited photo;
    ``delete_cache``: Gradio's (every s, older than s) clean-up of its cached uploads and images.
    """
    page = Page(Editor(predictor, preview_size, eager), latent, neutral, target, strength, beta, photo_inverter)
    with gr.Blocks(title="StyleCLIP global directions", delete_cache=delete_cache) as app:
        page.lay_out_title()
        with gr.Row():
            with gr.Column(scale=1):
                page.lay_out_faces(predictor.seed)
                page.lay_out_edit()
            with gr.Column(scale=2):
                page.lay_out_images()
        page.wire_events(app)
    return app


def launch_app(app, **launch_kwargs):
    """Serve ``app`` (of ``build_app``) with its style and script: ``gradio.Blocks.launch(**launch_kwargs)``."""
    return app.queue().launch(css=PAGE_CSS, head=PAGE_HEAD, ssr_mode=False, **launch_kwargs)

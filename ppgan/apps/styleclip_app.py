"""A local web page for StyleCLIP edits: Gradio over ``StyleGANv2ClipPredictor``.

    python applications/tools/styleclip_app.py [model flags] [--host 127.0.0.1] [--port 7860]

Text features and edit directions are cached, so moving a slider only renders:
a low-resolution preview while it moves (the image of the generator's skip path
at ``preview_size``, with no work past that layer), the full resolution on release.
"""
import argparse
import functools
import os
import tempfile

if __name__ == "__main__":  # python -m ppgan.apps.styleclip_app: set up before paddle loads
    from ppgan.utils.runtime import configure_cpu_runtime

    configure_cpu_runtime(keep_freed_memory=False)  # a server: return freed memory to the system

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from ..models.generators import StyleGANv2Generator  # noqa: E402
from ..models.generators.fast_synthesis import SynthesisProgram  # noqa: E402
from ..styleclip.directions import edit_styles  # noqa: E402
from ..utils.cli import add_generator_args, generator_spec, run_cli  # noqa: E402
from ..utils.errors import UserError  # noqa: E402
from ..utils.image import make_grid, save_png, to_uint8  # noqa: E402
from ..utils.model_thread import shared_model_thread  # noqa: E402
from .inversion import PhotoInverter  # noqa: E402
from .styleganv2clip_predictor import (DEFAULT_BETA, DEFAULT_OFFSET, DST_NAME, STRIP_NAME, STYLES_NAME,  # noqa: E402
                                       StyleGANv2ClipPredictor, TEMPLATE_SETS, as_beta, as_offsets, check_texts,
                                       psp_spec)

PREVIEW_SIZE = 256
ALPHA_RANGE = (-10.0, 10.0)
BETA_RANGE = (0.05, 0.4)
STRIP_ALPHAS = "-5 -2.5 0 2.5 5"
DIRECTION_CACHE = 256
IMAGE_HEIGHT = 420  # display height of the images, in CSS pixels
MODEL_QUEUE = "model"  # every event that touches Paddle runs in this one queue, one at a time


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


class EditSession:
    """One face being edited on one page: the picked S code, the accepted one and the edit on top.

    ``original`` is the face as picked, ``base`` the start of the current edit (the
    original, or the last accepted edit), ``direction`` and ``alpha`` the edit.
    """

    def __init__(self, editor, latent):
        self.editor = editor
        self.original = self.base = editor.styles(latent)
        self.base_image = editor.render(self.base)
        self.direction, self.alpha = None, 0.0
        self._shown = None  # settings of the full render on the page

    @property
    def styles(self):
        """The edited S code (``base`` while there is no edit)."""
        return self.base if self.direction is None else edit_styles(self.base, self.direction.delta_s, self.alpha)

    def edit(self, neutral, target, beta, alpha, preview=False):
        """Edit ``base`` with (neutral, target, beta or 'auto') at strength alpha and render it.

        Returns the image, or None for a preview of what the page already shows in full.
        A UserError (bad text, no channel kept) leaves the session without an edit.
        """
        settings = (neutral, target, beta, float(alpha))
        if preview and settings == self._shown:
            return None
        self.direction = self._shown = None  # and so they stay if the direction raises
        self.direction, self.alpha = self.editor.direction(neutral, target, as_beta(beta)), float(alpha)
        image = self.editor.render(self.styles, preview)
        self._shown = None if preview else settings
        return image

    def accept(self):
        """Make the current edit the starting point of the next (chained edits); alpha goes back to 0."""
        self._rebase(self.styles)

    def reset(self):
        """Go back to the face as picked, without edits."""
        self._rebase(self.original)

    def _rebase(self, styles):
        self.base, self.alpha, self._shown = styles, 0.0, None
        self.base_image = self.editor.render(styles)

    def strip_styles(self, alphas):
        """S codes of the strip: ``base``, then the current edit at every strength of ``alphas``."""
        if self.direction is None:
            raise UserError("no edit yet: type a target description and move the strength slider")
        return [self.base] + [edit_styles(self.base, self.direction.delta_s, alpha) for alpha in alphas]

    def export(self, folder, strip_images):
        """Write the edit command's files to ``folder``: edited image, strip and edited S code. Returns the paths."""
        paths = [os.path.join(folder, name) for name in (DST_NAME, STRIP_NAME, STYLES_NAME)]
        save_png(paths[0], self.editor.render(self.styles))
        save_png(paths[1], make_grid(np.stack(strip_images), 1, len(strip_images)))
        self.editor.model_thread.call(lambda: paddle.save([paddle.to_tensor(s) for s in self.styles], paths[2]))
        return paths


def channel_message(direction, neutral, target, preview_size=None):
    """Status line of an edit: how many channels move, at which beta."""
    where = f" (preview {preview_size} px)" if preview_size else ""
    return (f"'{neutral}' -> '{target}': beta {direction.beta:g} moves **{direction.moved}** of "
            f"{direction.channels} style channels (max |r| {direction.max_relevance:.3f}){where}")


def error_message(exc):
    """Status line of a UserError."""
    return f"**Error:** {exc}"


def build_app(predictor, latent=None, neutral="face", target="", alpha=DEFAULT_OFFSET, beta=DEFAULT_BETA,
              preview_size=PREVIEW_SIZE, photo_inverter=None, eager=None):
    """The page as a ``gradio.Blocks`` (launch it with ``.launch``).

    ``latent``: the first face (W+ [n_latent, style_dim]; None: the predictor's seed);
    neutral, target, alpha, beta ('auto' or a number): the first edit; ``photo_inverter``:
    a callable photo path -> W+, which adds the photo upload.
    """
    import gradio as gr

    editor = Editor(predictor, preview_size, eager)
    auto = as_beta(beta) == "auto"
    first_beta = DEFAULT_BETA if auto else min(max(as_beta(beta), BETA_RANGE[0]), BETA_RANGE[1])

    def new_face(latent):
        session = EditSession(editor, latent)
        return session, session.base_image, session.base_image, 0.0

    def start():
        session, original, edited, _ = new_face(editor.source_latent() if latent is None else latent)
        status = "Type a target description, then move the strength slider."
        if target.strip():
            try:
                edited = session.edit(neutral, target, "auto" if auto else first_beta, alpha)
                status = channel_message(session.direction, neutral, target)
            except UserError as exc:
                status = error_message(exc)
        return session, original, edited, status

    def picked(make_latent, source, progress):
        progress(0, desc="Loading the face")
        try:
            face = make_latent(source)
        except UserError as exc:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), error_message(exc)
        return *new_face(face), "New face: type a target description, then move the strength slider."

    def pick_seed(seed, progress=gr.Progress()):
        return picked(editor.seed_latent, seed, progress)

    def pick_latent(path, progress=gr.Progress()):
        return picked(editor.source_latent, path, progress)

    def pick_photo(path, progress=gr.Progress()):
        return picked(lambda p: editor.model_thread.call(photo_inverter, p), path, progress)

    def edit(session, neutral, target, beta, auto, alpha, preview=False):
        try:
            image = session.edit(neutral, target, "auto" if auto else beta, alpha, preview)
        except UserError as exc:
            return session.base_image, error_message(exc)
        if image is None:
            return gr.skip(), gr.skip()
        return image, channel_message(session.direction, neutral, target, editor.preview_size if preview else None)

    def full(session, neutral, target, beta, auto, alpha, progress=gr.Progress()):
        progress(0, desc="Rendering")
        return edit(session, neutral, target, beta, auto, alpha)

    def preview(session, neutral, target, beta, auto, alpha):
        return edit(session, neutral, target, beta, auto, alpha, preview=True)

    def accept_edit(session):
        session.accept()
        return session.base_image, session.base_image, 0.0, "Accepted: the edit is the new starting point."

    def reset_face(session):
        session.reset()
        return session.base_image, session.base_image, 0.0, "Back to the picked face."

    def export(session, alphas, progress=gr.Progress()):
        try:
            codes = session.strip_styles(as_offsets(alphas.replace(",", " ").split()))
        except (UserError, ValueError) as exc:
            return gr.skip(), error_message(exc)
        images = [editor.render(code) for code in progress.tqdm(codes, desc="Rendering the strip")]
        paths = session.export(tempfile.mkdtemp(prefix="styleclip_app_"), images)
        return paths, "Edited image, strip (the face, then each strength) and edited S code ready below."

    with gr.Blocks(title="StyleCLIP global directions") as app:
        session = gr.State()
        gr.Markdown("# StyleCLIP global directions\nEdit a face with text: describe it as it is (neutral) and "
                    "as it should become (target).")
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Tab("Seed"):
                    seed = gr.Number(value=predictor.seed, precision=0, label="Seed")
                    sample = gr.Button("Sample face")
                with gr.Tab("Latent (.npy)"):
                    latent_file = gr.File(label="W+ .npy", file_types=[".npy"], type="filepath", elem_id="latent")
                if photo_inverter is not None:
                    with gr.Tab("Photo"):
                        photo = gr.Image(type="filepath", sources=["upload"], label="Face photo", elem_id="photo")
                neutral_box = gr.Textbox(neutral, label="Neutral", elem_id="neutral")
                target_box = gr.Textbox(target, label="Target", placeholder="e.g. smiling face", elem_id="target")
                apply = gr.Button("Apply text", variant="primary")
                alpha_slider = gr.Slider(*ALPHA_RANGE, value=alpha, step=0.1, label="Strength (alpha)",
                                         elem_id="alpha")
                beta_slider = gr.Slider(*BETA_RANGE, value=first_beta, step=0.01,
                                        label="Disentanglement (beta)", elem_id="beta")
                auto_box = gr.Checkbox(auto, label="auto beta (largest of 0.10..0.29 moving more than 20 channels)")
                with gr.Row():
                    accept = gr.Button("Accept")
                    reset = gr.Button("Reset")
            with gr.Column(scale=2):
                with gr.Row():
                    original = gr.Image(label="Original", format="png", interactive=False, height=IMAGE_HEIGHT,
                                        elem_id="original")
                    edited = gr.Image(label="Edited", format="png", interactive=False, height=IMAGE_HEIGHT,
                                      elem_id="edited")
                status = gr.Markdown(elem_id="status")
                with gr.Row():
                    strip_alphas = gr.Textbox(STRIP_ALPHAS, label="Strip strengths")
                    export_button = gr.Button("Export files")
                downloads = gr.File(label="Downloads", file_count="multiple", interactive=False)

        queued = dict(concurrency_limit=1, concurrency_id=MODEL_QUEUE)
        face_outputs = [session, original, edited, alpha_slider, status]
        edit_inputs = [session, neutral_box, target_box, beta_slider, auto_box, alpha_slider]
        app.load(start, None, [session, original, edited, status], **queued)
        sample.click(pick_seed, seed, face_outputs, **queued)
        latent_file.upload(pick_latent, latent_file, face_outputs, **queued)
        if photo_inverter is not None:
            photo.upload(pick_photo, photo, face_outputs, **queued)
        for event in (apply.click, target_box.submit, neutral_box.submit, auto_box.input):
            event(full, edit_inputs, [edited, status], **queued)
        for slider in (alpha_slider, beta_slider):
            slider.input(preview, edit_inputs, [edited, status], show_progress="hidden", trigger_mode="always_last",
                         **queued)
            slider.release(full, edit_inputs, [edited, status], show_progress="minimal", trigger_mode="always_last",
                           **queued)
        accept.click(accept_edit, session, [original, edited, alpha_slider, status], **queued)
        reset.click(reset_face, session, [original, edited, alpha_slider, status], **queued)
        export_button.click(export, [session, strip_alphas], [downloads, status], **queued)
    return app


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
    app = build_app(predictor, latent, args.neutral, args.target, args.direction_offset, beta, args.preview_size,
                    inverter)
    app.queue().launch(server_name=args.host, server_port=args.port, ssr_mode=False)


if __name__ == "__main__":
    run_cli(main)

"""The editing page: session caching, the low-resolution preview, chained edits, exports, and the page in Chromium.

One tiny random 64 px generator (200 non-toRGB style channels), a random
direction file of unit rows (|r| at most ~0.15: beta 0.4 keeps no channel) and a
random ViT-B/32 per module. The browser test needs Debian's chromium and the
``playwright`` package (no browser download); it is skipped without them.
"""
import concurrent.futures
import contextlib
import errno
import io
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import paddle
import pytest
from conftest import SMALL_FLAGS, Payload, malicious_files, two_face_photo
from PIL import Image, UnidentifiedImageError

from ppgan.apps.styleganv2clip_predictor import StyleGANv2ClipPredictor
from ppgan.cli.app import app_parser
from ppgan.cli.edit import main as edit_main
from ppgan.faceutils import load_rgb, paste_face
from ppgan.inversion import PhotoInverter, load_latent_file
from ppgan.models.generators import StyleGANv2Generator
from ppgan.modules.modulated_conv import ModulatedConv2D
from ppgan.page import (
    KEY_SETTLE_MS,
    PAGE_WORDS,
    PHOTO_DISPLAY_SIDE,
    Editor,
    EditSession,
    build_app,
    error_message,
    launch_app,
    parse_strengths,
    photo_face,
    preview_generator,
)
from ppgan.styleclip import outputs as outputs_module
from ppgan.styleclip import sweep as sweep_module
from ppgan.styleclip.clip import save_random_clip_weights
from ppgan.styleclip.compose import RECIPE_NAME
from ppgan.styleclip.directions import edit_styles
from ppgan.styleclip.edit import check_texts, edit_direction
from ppgan.styleclip.outputs import DST_NAME, STRIP_NAME, STYLES_NAME
from ppgan.utils import compiled
from ppgan.utils.errors import UserError
from ppgan.utils.image import to_uint8

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")  # gradio's own pandas deprecations

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CLI = os.path.join(REPO, "applications", "tools", "styleclip_app.py")
NO_FACE_PHOTO = os.path.join(REPO, "tests", "fixtures", "no_face_church.jpg")
FACE_PHOTO = os.path.join(REPO, "tests", "fixtures", "face_input_img.jpg")
PORTRAIT = os.path.join(REPO, "tests", "fixtures", "face_psp_input.jpg")  # 482 x 600, room below the face
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
GENERATOR = dict(size=64, style_dim=64, n_mlp=2, channels={4: 32, 8: 32, 16: 16, 32: 16, 64: 8})
STYLE_CHANNELS = 200
PREVIEW = 32
NEUTRAL, TARGET = "face", "smiling face"
BETA = 0.05  # keeps about a quarter of the channels of the random directions
PREVIEW_STOP = 11  # style layers up to the 32 px toRGB (of 14)
# Preview vs the full render box-downsampled to the preview size, uint8 levels (measured: 1.4 mean, 16 max).
PREVIEW_MEAN_TOLERANCE = 3.0
PREVIEW_MAX_TOLERANCE = 32


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("app_files")
    paths = {name: str(root / name) for name in ("generator.pdparams", "clip.pdparams", "fs3.pdparams")}
    paddle.seed(0)
    paddle.save(StyleGANv2Generator(**GENERATOR).state_dict(), paths["generator.pdparams"])
    save_random_clip_weights(paths["clip.pdparams"], seed=0)
    fs3 = np.random.default_rng(0).standard_normal((STYLE_CHANNELS, 512)).astype(np.float32)
    paddle.save(paddle.to_tensor(fs3 / np.linalg.norm(fs3, axis=1, keepdims=True)), paths["fs3.pdparams"])
    return paths


def make_predictor(files):
    return StyleGANv2ClipPredictor("unused_output", weight_path=files["generator.pdparams"],
                                   direction_path=files["fs3.pdparams"], clip_weight_path=files["clip.pdparams"],
                                   **GENERATOR)


@pytest.fixture(scope="module")
def predictor(files):
    return make_predictor(files)


@pytest.fixture(scope="module")
def editor(predictor):
    return Editor(predictor)


@pytest.fixture
def photo_inverter(predictor, monkeypatch):
    """The page's inverter up to pSp (no weights here): the photo's alignment, then the predictor's seed face."""
    inverter = PhotoInverter()
    monkeypatch.setattr(inverter, "encode", lambda faces: predictor.source_latents())
    return inverter


@pytest.fixture
def encode_calls(predictor, monkeypatch):
    """Texts of every CLIP text-encoder call, one list per call."""
    encoder = predictor.text_direction.encoder
    calls = []
    original = encoder.encode_text

    def counting(prompts):
        calls.append(list(prompts))
        return original(prompts)

    monkeypatch.setattr(encoder, "encode_text", counting)
    return calls


def test_slider_moves_do_not_reencode_text(editor, predictor, encode_calls):
    target, other = "face with curly hair", "face with a beard"  # texts no other test encodes
    session = EditSession(editor, predictor.source_latents()[0])
    for strength in (1.0, 2.5, -4.0):
        session.edit(NEUTRAL, target, BETA, strength, preview=True)
    image = session.edit(NEUTRAL, target, BETA, -4.0)
    session.edit(NEUTRAL, target, 0.1, -4.0, preview=True)
    session.edit(NEUTRAL, target, "auto", -4.0)
    assert len(encode_calls) == 1  # both texts, every template, one batch
    session.edit(NEUTRAL, other, BETA, 3.0)
    assert len(encode_calls) == 2 and all("beard" in prompt for prompt in encode_calls[1])  # only the new text

    direction = editor.direction(NEUTRAL, target, BETA)
    expected = predictor.render_styles(edit_styles(session.base, direction.delta_s, -4.0))[0]
    assert image.shape == (64, 64, 3)
    np.testing.assert_array_equal(image, expected)


def test_preview_is_the_skip_image_at_its_size(editor, predictor):
    """The preview (Paddle Inference) is the generator's RGB image right after the 32 px toRGB layer."""
    assert editor.preview_size == PREVIEW
    styles = editor.styles(predictor.source_latents()[0])
    preview = editor.render(styles, preview=True)
    assert preview.shape == (PREVIEW, PREVIEW, 3)
    g = predictor.generator
    with paddle.no_grad():
        _, skip = g.synthesis_partial([paddle.to_tensor(s) for s in styles], 0, PREVIEW_STOP)
    assert g.is_torgb(PREVIEW_STOP - 1) and list(skip.shape) == [1, 3, PREVIEW, PREVIEW]
    assert np.abs(preview.astype(int) - to_uint8(skip)[0].astype(int)).max() <= 1


@pytest.fixture
def eager_editor(files, monkeypatch):
    """An Editor rendering eagerly (layer hooks fire) whose last toRGB conv adds nothing.

    A random generator's last toRGB adds a whole random picture (15-65 uint8 levels
    of mean difference here); a trained one adds fine detail. Without it the full
    render is the preview upsampled by the generator's FIR filter (plus a zero bias).
    """
    monkeypatch.setenv("PPGAN_SYNTHESIS", "eager")
    predictor = make_predictor(files)
    weight = predictor.generator.to_rgbs[-1].conv.weight
    weight.set_value(paddle.zeros_like(weight))
    return Editor(predictor, eager=True)


def test_preview_matches_the_full_render_and_runs_fewer_layers(eager_editor):
    editor, predictor = eager_editor, eager_editor.predictor
    costs = {"full": [], "preview": []}
    for name, generator in (("full", predictor.generator), ("preview", editor.preview_program.generator)):
        for layer in generator.sublayers():
            if isinstance(layer, ModulatedConv2D):
                layer.register_forward_post_hook(
                    lambda layer, inputs, output, log=costs[name]:
                    log.append(int(np.prod(output.shape)) * layer.in_channels * layer.kernel_size ** 2))
    styles = editor.styles(predictor.source_latents()[0])
    full = editor.render(styles)
    preview = editor.render(styles, preview=True)

    downsampled = np.asarray(Image.fromarray(full).resize((PREVIEW, PREVIEW), Image.BOX), np.float64)
    difference = np.abs(downsampled - preview)
    assert difference.mean() < PREVIEW_MEAN_TOLERANCE and difference.max() < PREVIEW_MAX_TOLERANCE, difference

    assert len(costs["full"]) == predictor.generator.num_style_layers == 14
    assert len(costs["preview"]) == PREVIEW_STOP == 11  # the 64 px block (up conv, conv, toRGB) never runs
    assert sum(costs["preview"]) < 0.55 * sum(costs["full"])  # multiply-adds of the modulated convs: 52%


def test_render_from_many_threads_matches_one_thread(editor, predictor, monkeypatch):
    """The page's render entry point from 8 threads at once, 200 calls: no failure, the single-threaded images,
    and every Paddle Inference run on the one model thread."""
    base = editor.styles(predictor.source_latents()[0])
    delta_s = editor.direction(NEUTRAL, TARGET, BETA).delta_s
    jobs = [(edit_styles(base, delta_s, strength), preview) for strength in np.linspace(-5, 5, 10) for preview in (0, 1)]
    expected = [editor.render(styles, preview) for styles, preview in jobs]
    on_model_thread = []
    run_predictor = compiled.run_predictor
    monkeypatch.setattr(compiled, "run_predictor",
                        lambda *args: on_model_thread.append(editor.model_thread.on_thread()) or run_predictor(*args))

    def render(call):
        styles, preview = jobs[call % len(jobs)]
        return call, editor.render(styles, preview)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(render, range(200)))
    assert len(results) == 200
    for call, image in results:
        np.testing.assert_array_equal(image, expected[call % len(jobs)])
    assert all(on_model_thread) and len(on_model_thread) == (0 if compiled.use_eager_programs() else 200)


def test_preview_generator_checks_size(predictor):
    for size in (4, 48, 64):
        with pytest.raises(UserError, match="preview size"):
            preview_generator(predictor.generator, size)


def test_accept_chains_edits_undo_and_reset_go_back(editor, predictor):
    session = EditSession(editor, predictor.source_latents()[0])
    original = session.base
    session.edit(NEUTRAL, TARGET, BETA, 3.0)
    first = session.styles
    session.accept()
    assert session.strength == 0.0 and len(session.history) == 1 and "`face -> smiling face = 3 @ 0.05`" in session.history_text()
    np.testing.assert_array_equal(session.base_image, predictor.render_styles(first)[0])
    session.edit(NEUTRAL, "face with glasses", BETA, 2.0, preview=True)  # accepted without a full render
    second = editor.direction(NEUTRAL, "face with glasses", BETA).delta_s
    for chained, start, delta in zip(session.styles, first, second):
        np.testing.assert_allclose(chained, start + 2.0 * delta, rtol=1e-6, atol=1e-6)
    session.accept()
    np.testing.assert_array_equal(session.base_image, predictor.render_styles(session.base)[0])

    session.undo()
    assert len(session.history) == 1 and session.direction is None
    np.testing.assert_array_equal(session.base_image, predictor.render_styles(first)[0])
    for chained, start in zip(session.base, first):
        np.testing.assert_array_equal(chained, start)
    session.reset()
    assert session.base is original and session.strength == 0.0 and session.history == []
    with pytest.raises(UserError, match="no accepted edit to undo"):
        session.undo()


def test_accept_and_export_need_a_successful_edit(editor, predictor):
    session = EditSession(editor, predictor.source_latents()[0])
    for action in (session.accept, lambda: session.export((1.0,))):
        with pytest.raises(UserError, match="no edit to"):
            action()
    session.edit(NEUTRAL, TARGET, BETA, 0.0)
    with pytest.raises(UserError, match="strength 0"):
        session.accept()
    session.edit(NEUTRAL, TARGET, BETA, 2.0)
    with pytest.raises(UserError, match="keeps no style channel"):
        session.edit(NEUTRAL, TARGET, 0.4, 2.0)  # beta so high that no channel moves
    for action in (session.accept, lambda: session.export((1.0,))):
        with pytest.raises(UserError, match="no edit to"):
            action()
    assert session.history == [] and session.export_folder is None


def read_outputs(folder):
    """{file name: pixels, S code or text (a recipe)} of an edit command's output folder."""
    outputs = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.endswith(".txt"):
            with open(path) as f:
                outputs[name] = f.read()
            continue
        outputs[name] = ([s.numpy() for s in paddle.load(path)] if name.endswith(".pd")
                         else np.asarray(Image.open(path)))
    return outputs


def test_export_writes_the_files_of_the_edit_command(editor, predictor, tmp_path):
    latent = predictor.source_latents()[0]
    session = EditSession(editor, latent)
    session.edit(NEUTRAL, TARGET, BETA, 3.0)
    paths = session.export(parse_strengths("-1, 0 2 3"))
    folder = session.export_folder
    assert os.path.dirname(paths[0]) == folder and len(paths) == len(os.listdir(folder)) == 9
    predictor.output_path = str(tmp_path / "cli")
    predictor.run(latent, NEUTRAL, TARGET, (-1.0, 0.0, 2.0, 3.0), BETA)  # what the edit command writes
    page, command = read_outputs(folder), read_outputs(predictor.output_path)
    assert page.pop(RECIPE_NAME) == "face -> smiling face = 3 @ 0.05\n"  # the edit shown, no accepted edit before
    assert sorted(page) == sorted(command) == sorted(os.path.basename(path) for path in paths[:-1])
    for name in command:  # renders batched differently: at most one uint8 level apart
        if name.endswith(".pd"):
            for ours, theirs in zip(page[name], command[name]):
                np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
        else:
            assert np.abs(page[name].astype(int) - command[name]).max() <= 1, name

    session.edit(NEUTRAL, TARGET, BETA, -2.0)
    again = session.export((5.0,))  # the current strength goes last: dst.editing.png is the edit on the page
    assert not os.path.exists(folder) and [os.path.basename(path) for path in again] == [
        "src.editing.png", "dst.editing_5.png", "dst.editing_-2.png", DST_NAME, STRIP_NAME, STYLES_NAME, RECIPE_NAME]
    np.testing.assert_array_equal(np.asarray(Image.open(again[3])), session.image)
    session.close()
    assert not os.path.exists(os.path.dirname(again[0])) and session.export_folder is None


def test_the_accepted_edits_are_the_edit_commands_composition(editor, predictor, files, tmp_path):
    """The page's chain of accepted edits, its exported recipe and the edit command's --recipe give one S code."""
    latent = predictor.source_latents()[0]
    session = EditSession(editor, latent)
    session.edit(NEUTRAL, TARGET, BETA, 3.0)
    session.accept()
    session.edit(NEUTRAL, "face with glasses", "auto", -2.0, preview=True)  # accepted without a full render
    session.accept()
    session.edit(NEUTRAL, "old face", BETA, 1.5)
    auto_beta = editor.direction(NEUTRAL, "face with glasses", "auto").beta
    paths = session.export((0.0,))
    recipe = next(path for path in paths if path.endswith(RECIPE_NAME))
    with open(recipe) as f:
        lines = f.read().splitlines()
    assert lines == ["face -> smiling face = 3 @ 0.05", f"face -> face with glasses = -2 @ {auto_beta:g}",
                     "face -> old face = 1.5 @ 0.05"]
    assert "2. `face -> face with glasses = -2 @" in session.history_text()

    source = editor.styles(latent)
    singles = [(3.0, editor.direction(NEUTRAL, TARGET, BETA)), (-2.0, editor.direction(NEUTRAL, "face with glasses",
                                                                                        auto_beta)),
               (1.5, editor.direction(NEUTRAL, "old face", BETA))]
    for layer, (chained, start) in enumerate(zip(session.styles, source)):
        summed = start + sum(np.float64(strength) * direction.delta_s[layer] for strength, direction in singles)
        np.testing.assert_allclose(chained, summed, rtol=1e-6, atol=1e-6, err_msg=f"layer {layer}")

    np.save(tmp_path / "face.npy", latent)
    edit_main(["--weight_path", files["generator.pdparams"], "--direction_path", files["fs3.pdparams"],
               "--clip_weight_path", files["clip.pdparams"], *SMALL_FLAGS, "--cpu", "--latent", str(tmp_path / "face.npy"),
               "--recipe", recipe, "--output_path", str(tmp_path / "cli")])
    exported = read_outputs(session.export_folder)[STYLES_NAME]
    for ours, theirs in zip(read_outputs(tmp_path / "cli")[STYLES_NAME], exported):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    name = "smiling-face_3+face-with-glasses_-2+old-face_1.5"
    assert os.path.exists(tmp_path / "cli" / f"dst.editing_{name}.png")
    session.close()


def test_export_sweep_frames_are_the_full_renders(photo_session, editor, monkeypatch):
    session, inverted = photo_session
    photo, quad = np.asarray(load_rgb(PORTRAIT)), inverted.faces[0].quad
    captured = {}
    write_gif = sweep_module.write_gif
    monkeypatch.setattr(sweep_module, "write_gif", lambda path, frames, fps: (
        captured.__setitem__(os.path.basename(path), frames), write_gif(path, frames, fps)))
    with pytest.raises(UserError, match="no edit to export"):
        session.export_sweep((0.0,), 4)
    session.edit(NEUTRAL, TARGET, BETA, 3.0)
    with pytest.raises(UserError, match="sweep 1 is out of range"):
        session.export_sweep((0.0,), 1)
    paths = session.export_sweep((-1.0, 1.0), 5, labelled=False)  # -1 .. 3: -1, 1, 3, 1.67, 0.33
    assert sorted(os.path.basename(path) for path in paths) == sorted(
        ["dst.editing_sweep.gif", "dst.editing_sweep.mp4", "face_psp_input.edited_sweep.gif",
         "face_psp_input.edited_sweep.mp4"]) and sorted(os.listdir(session.export_folder)) == sorted(
        os.path.basename(path) for path in paths)
    faces, photos = captured["dst.editing_sweep.gif"], captured["face_psp_input.edited_sweep.gif"]
    for k, strength in enumerate((-1.0, 1.0, 3.0, 1.67, 0.33)):
        session.edit(NEUTRAL, TARGET, BETA, strength)
        np.testing.assert_array_equal(faces[k], session.image, err_msg=f"frame {k}")
        np.testing.assert_array_equal(photos[k], paste_face(photo, session.image, quad)[0], err_msg=f"frame {k}")
    with Image.open(paths[0] if paths[0].endswith(".gif") else paths[1]) as gif:
        assert gif.n_frames == 5
    session.close()


def psnr(a, b, where):
    error = a.astype(np.float64)[where] - b.astype(np.float64)[where]
    return 10 * np.log10(255.0 ** 2 / np.mean(error ** 2))


def far_from_quad(shape, quad):
    """Mask [H, W] of the photo's pixels outside the bounding box of a face's quad (the paste mask lies inside)."""
    (left, top), (right, bottom) = np.floor(quad.min(axis=0)).astype(int), np.ceil(quad.max(axis=0)).astype(int)
    far = np.ones(shape[:2], bool)
    far[max(top, 0):bottom + 1, max(left, 0):right + 1] = False
    return far


@pytest.fixture
def photo_session(editor, photo_inverter, monkeypatch):
    """(session on PORTRAIT, its InvertedPhoto), the inversion perfect: the unedited face renders as the
    aligned crop (box-averaged to the generator's 64 px), every edit as the generator renders it."""
    inverted = photo_inverter.invert(PORTRAIT, 1, "ignore")
    crop = np.asarray(inverted.faces[0].image.resize((64, 64), Image.Resampling.BOX))
    start = editor.styles(inverted.latents[0])
    render = editor.render

    def perfect_render(styles, preview=False):
        unedited = all(np.array_equal(s, t) for s, t in zip(styles, start))
        return crop if unedited and not preview else render(styles, preview)

    monkeypatch.setattr(editor, "render", perfect_render)
    return EditSession(editor, inverted.latents[0], photo_face(PORTRAIT, inverted.photo, inverted.faces[0])), inverted


def test_a_photo_face_is_pasted_back_after_full_renders_only(photo_session, monkeypatch):
    session, inverted = photo_session
    photo, quad = np.asarray(load_rgb(PORTRAIT)), inverted.faces[0].quad
    far = far_from_quad(photo.shape, quad)
    assert session.photo.stem == "face_psp_input" and far.mean() > 0.2
    np.testing.assert_array_equal(session.base_pasted, session.pasted)

    session.edit(NEUTRAL, TARGET, BETA, 0.0)  # strength 0: the photo's own face, through the 64 px crop
    _, mask = paste_face(photo, session.image, quad)
    assert session.pasted.shape == photo.shape and (mask == 1).mean() > 0.05
    np.testing.assert_array_equal(session.pasted[far], photo[far])
    assert psnr(session.pasted, photo, mask > 0) > 25.0  # measured 28.1 dB; the same face pasted 5 px off: 19.7 dB

    session.edit(NEUTRAL, TARGET, BETA, 3.0)
    edited = session.pasted
    np.testing.assert_array_equal(edited, paste_face(photo, session.image, quad)[0])
    np.testing.assert_array_equal(edited[far], photo[far])
    assert np.abs(edited[mask == 1].astype(int) - photo[mask == 1]).mean() > 10  # the edited face, not the photo's

    pastes = []
    with monkeypatch.context() as patch:
        patch.setattr("ppgan.page.session.paste_edits", lambda *args: pastes.append(args))
        session.edit(NEUTRAL, TARGET, BETA, 4.0, preview=True)
    assert pastes == []  # a preview pastes nothing (the page keeps showing the last full one)

    session.edit(NEUTRAL, TARGET, BETA, 3.0)
    session.accept()  # the accepted edit is the new start: its photo too
    np.testing.assert_array_equal(session.base_pasted, edited)
    np.testing.assert_array_equal(session.pasted, edited)
    session.reset()
    assert psnr(session.pasted, photo, mask > 0) > 25.0


def test_export_of_a_photo_face_has_the_pasted_photos(photo_session, editor, predictor, tmp_path, monkeypatch):
    session, inverted = photo_session
    photo, quad = np.asarray(load_rgb(PORTRAIT)), inverted.faces[0].quad
    session.edit(NEUTRAL, TARGET, BETA, 3.0)
    paths = session.export((-2.0, 0.0, 3.0, 5.0))
    folder = session.export_folder
    photo_names = ["face_psp_input.edited.png"] + [f"face_psp_input.edited_{o}.png" for o in ("-2", "0", "3", "5")]
    assert sorted(os.listdir(folder)) == sorted(os.path.basename(path) for path in paths)
    assert set(photo_names) <= set(os.listdir(folder)) and len(paths) == 9 + 5
    outputs = read_outputs(folder)
    for strength in ("-2", "0", "3", "5"):  # each the photo with that strength's face file pasted back
        pasted = outputs[f"face_psp_input.edited_{strength}.png"]
        assert pasted.shape == photo.shape
        np.testing.assert_array_equal(pasted, paste_face(photo, outputs[f"dst.editing_{strength}.png"], quad)[0])
    np.testing.assert_array_equal(outputs["face_psp_input.edited.png"], session.pasted)  # the edit on the page
    assert psnr(outputs["face_psp_input.edited_0.png"], photo, paste_face(photo, session.base_image, quad)[1] > 0) > 25

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a failed export would leave its folder
    write_png = outputs_module.write_png

    def full_disk(path, image):
        if ".edited_5" in path:
            raise OSError(errno.ENOSPC, "No space left on device", path)
        return write_png(path, image)

    monkeypatch.setattr(outputs_module, "write_png", full_disk)
    with pytest.raises(UserError, match="No space left on device"):
        session.export((5.0,))
    assert os.listdir(tmp_path) == [] and session.export_folder == folder  # nothing of it, the last export kept
    session.close()

    seed_session = EditSession(editor, predictor.source_latents()[0])
    seed_session.edit(NEUTRAL, TARGET, BETA, 3.0)
    names = [os.path.basename(path) for path in seed_session.export((1.0,))]
    assert seed_session.pasted is None and not any(".edited" in name for name in names) and len(names) == 7
    seed_session.close()


def handler(app, name):
    """The page's event handler called ``name``."""
    return next(block_fn.fn for block_fn in app.fns.values() if block_fn.fn.__name__ == name)


def no_progress(*args, **kwargs):
    """Stands for Gradio's progress bar when a test calls a handler."""


def test_an_upload_that_would_run_code_is_refused_in_words(predictor, photo_inverter, tmp_path):
    """The page's uploads (a W+ .npy, a photo) never unpickle: crafted files get a status line, no side effect."""
    marker = tmp_path / "PWNED"
    crafted = malicious_files(tmp_path, marker)
    app = build_app(predictor, neutral=NEUTRAL, beta=BETA, photo_inverter=photo_inverter)
    status = next(block for block in app.blocks.values() if block.elem_id == "status")
    for kind in Payload.RECORDED:
        for name, path in (("pick_latent", crafted[(kind, "npy")]), ("pick_latent", crafted[(kind, "pickle4")]),
                           ("pick_photo", crafted[(kind, "pickle2")])):
            shown = handler(app, name)(None, path, progress=no_progress)
            assert os.path.basename(path) in shown[status] and "\n" not in shown[status].strip(), shown[status]
    assert not marker.exists()


def test_the_edited_photo_pane_follows_the_face(predictor, photo_inverter):
    app = build_app(predictor, neutral=NEUTRAL, beta=BETA, photo_inverter=photo_inverter)
    pane = next(block for block in app.blocks.values() if block.elem_id == "edited_photo")
    shown = handler(app, "pick_photo")(None, FACE_PHOTO, progress=no_progress)
    session = next(value for value in shown.values() if isinstance(value, EditSession))
    assert shown[pane]["visible"] and shown[pane]["value"] is session.pasted
    assert session.pasted.shape == np.asarray(load_rgb(FACE_PHOTO)).shape

    edit = (session, NEUTRAL, TARGET, BETA, False, 3.0)
    assert pane not in handler(app, "preview")(*edit)  # a preview leaves the photo pane as it is
    shown = handler(app, "full")(*edit, progress=no_progress)
    assert shown[pane] is session.pasted and not np.array_equal(session.pasted, session.base_pasted)
    shown = handler(app, "accept_edit")(session)
    assert shown[pane]["visible"] and shown[pane]["value"] is session.base_pasted

    shown = handler(app, "pick_seed")(session, 3, progress=no_progress)  # a seed face: no photo to show
    assert shown[pane] == {"__type__": "update", "value": None, "visible": False}
    seed_session = next(value for value in shown.values() if isinstance(value, EditSession))
    assert handler(app, "full")(seed_session, *edit[1:], progress=no_progress)[pane] is None


def test_strip_strengths_and_upload_paths_in_errors():
    assert parse_strengths("-5, -2.5 0 2.5 5 5") == (-5.0, -2.5, 0.0, 2.5, 5.0)
    for text, message in (("1 two 3", "strip strength 'two' is not a number"), ("  ", "no strip strength"),
                          ("1 nan", "pass one or more finite numbers")):
        with pytest.raises(UserError, match=message):
            parse_strengths(text)
    upload = "/tmp/gradio/0123abcd/my photo.jpg"
    assert error_message(UserError(f"no face found in {upload}; pass a photo"), upload) == (
        "**Error:** no face found in my photo.jpg; pass a photo")


def test_errors_leave_the_session_without_edit(editor, predictor):
    session = EditSession(editor, predictor.source_latents()[0])
    session.edit(NEUTRAL, TARGET, BETA, 3.0)
    with pytest.raises(UserError, match="keeps no style channel"):
        session.edit(NEUTRAL, TARGET, 0.4, 3.0)
    assert session.direction is None and session.styles is session.base
    with pytest.raises(UserError, match="CLIP tokens"):
        session.edit(NEUTRAL, "face " * 80, BETA, 3.0)
    with pytest.raises(UserError, match="empty text"):
        session.edit(NEUTRAL, " ", BETA, 3.0)


def test_cli_listens_on_loopback_and_reports_bad_flags(files):
    args = app_parser().parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 7860)
    result = subprocess.run([sys.executable, CLI, "--weight_path", files["generator.pdparams"], "--beta_threshold",
                             "strong"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "error: --beta_threshold 'strong'" in result.stderr, result.stderr


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def browser_driver():
    """The playwright module; the test is skipped without Chromium or playwright."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return pytest.importorskip("playwright.sync_api", reason="playwright is missing: pip install playwright")


@contextlib.contextmanager
def served_page(app, tmp_path, monkeypatch):
    """(playwright module, Chromium browser, page URL) of ``app`` served on a free loopback port."""
    playwright = browser_driver()
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    # Gradio probes its own URL with a 3 s timeout at launch, too short on a loaded machine; the page load waits.
    import gradio.networking

    monkeypatch.setattr(gradio.networking, "url_ok", lambda url: True)
    port = free_port()
    launch_app(app, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield playwright, browser, f"http://127.0.0.1:{port}/"
            browser.close()
    finally:
        app.close()


def open_page(browser, url):
    """A page of the app in a browser context of its own (a user of its own), loaded."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(url, timeout=180_000)
    page.locator("#edited img").wait_for(timeout=180_000)
    return page


def shown_image(page, elem_id):
    """The picture an image component shows, decoded: uint8 [H, W, 3]; None while it has none to decode
    (Gradio swaps the element when a new image arrives: its source may then be empty for a moment)."""
    source = page.locator(f"#{elem_id} img").evaluate("img => img.src")
    response = page.request.get(source) if source.startswith("http") else None
    if response is None or not response.ok:
        return None
    try:
        return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))
    except UnidentifiedImageError:
        return None


def wait_for_image(page, elem_id, expected, timeout=60.0):
    """Wait until ``elem_id`` shows exactly ``expected`` and the status line no preview; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        status = page.locator("#status").inner_text()
        if "preview" not in status:
            image = shown_image(page, elem_id)
            if image is not None and image.shape == expected.shape and np.array_equal(image, expected):
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"#{elem_id} never showed the expected full render; status: {status!r}")
        page.wait_for_timeout(200)


def slider_value(page, elem_id):
    return float(page.locator(f"#{elem_id} input[type=number]").input_value())


def drag_slider(page, elem_id, fraction):
    """Drag the range input of a Gradio slider from its thumb to ``fraction`` of its width, as a person would."""
    track = page.locator(f"#{elem_id} input[type=range]")
    box = track.bounding_box()
    value, low, high = track.evaluate("e => [e.valueAsNumber, Number(e.min), Number(e.max)]")
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * (value - low) / (high - low), y)
    page.mouse.down()
    for step in range(1, 6):
        page.mouse.move(box["x"] + box["width"] * fraction * step / 5, y, steps=2)
        page.wait_for_timeout(150)
    page.mouse.up()


def type_slider(page, elem_id, value):
    """Type ``value`` into a slider's number box and press Enter."""
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def press_slider_keys(page, elem_id, key, count):
    """Focus a slider's range input and press ``key`` (ArrowLeft, ArrowRight, ...) ``count`` times."""
    track = page.locator(f"#{elem_id} input[type=range]")
    track.focus()
    for _ in range(count):
        track.press(key)


def set_target(page, text):
    box = page.locator("#target textarea, #target input").first
    box.fill(text)
    box.press("Enter")


def test_a_button_right_after_typing_a_strength_acts_on_that_strength(editor, predictor, monkeypatch, tmp_path):
    """The page renders a typed strength in full 0.4 s after the last key; a click before then must not let
    that render land after the click's action (it would re-edit the accepted face)."""
    base = editor.styles(predictor.source_latents()[0])
    delta_s = editor.direction(NEUTRAL, TARGET, BETA).delta_s
    app = build_app(predictor, neutral=NEUTRAL, target=TARGET, strength=1.0, beta=BETA)
    with served_page(app, tmp_path, monkeypatch) as (playwright, browser, url):
        page = open_page(browser, url)
        wait_for_image(page, "edited", editor.render(edit_styles(base, delta_s, 1.0)))
        type_slider(page, "alpha", 1.5)
        page.get_by_role("button", name="Accept", exact=True).click()  # within the 0.4 s
        playwright.expect(page.locator("#status")).to_contain_text("Accepted", timeout=60_000)
        accepted = editor.render(edit_styles(base, delta_s, 1.5))
        wait_for_image(page, "original", accepted)
        page.wait_for_timeout(1500)  # past the settle time: nothing may come after the Accept
        assert "= 1.5 @" in page.inner_text("#history") and slider_value(page, "alpha") == 0
        wait_for_image(page, "edited", accepted, timeout=5.0)


def downloaded(page, playwright, name):
    """The bytes of the file ``name`` in the page's Downloads (waits for its link)."""
    link = page.locator(f'#downloads a[download="{name}"]')
    playwright.expect(link).to_be_visible(timeout=60_000)
    response = page.request.get(link.evaluate("a => a.href"))
    assert response.ok, name
    return response.body()


def test_the_page_exports_its_accepted_edits_as_a_recipe_and_a_sweep(editor, predictor, monkeypatch, tmp_path):
    base = editor.styles(predictor.source_latents()[0])
    smile, old = (editor.direction(NEUTRAL, target, BETA).delta_s for target in (TARGET, "old face"))
    app = build_app(predictor, neutral=NEUTRAL, target=TARGET, strength=2.0, beta=BETA)
    with served_page(app, tmp_path, monkeypatch) as (playwright, browser, url):
        page = open_page(browser, url)
        wait_for_image(page, "edited", editor.render(edit_styles(base, smile, 2.0)))
        page.get_by_role("button", name="Accept", exact=True).click()
        playwright.expect(page.locator("#status")).to_contain_text("Accepted", timeout=60_000)
        set_target(page, "old face")
        playwright.expect(page.locator("#status")).to_contain_text("'face' -> 'old face'", timeout=60_000)
        type_slider(page, "alpha", -1.5)
        wait_for_image(page, "edited", editor.render(edit_styles(edit_styles(base, smile, 2.0), old, -1.5)))
        assert "face -> smiling face = 2 @ 0.05" in page.inner_text("#history")

        page.get_by_role("button", name="Export files").click()
        playwright.expect(page.locator("#status")).to_contain_text("Exported the files", timeout=120_000)
        assert downloaded(page, playwright, RECIPE_NAME).decode() == (
            "face -> smiling face = 2 @ 0.05\nface -> old face = -1.5 @ 0.05\n")

        page.locator("#sweep_frames input").fill("6")
        page.get_by_role("button", name="Export sweep").click()
        playwright.expect(page.locator("#status")).to_contain_text("Exported the strength sweep", timeout=120_000)
        with Image.open(io.BytesIO(downloaded(page, playwright, "dst.editing_sweep.gif"))) as gif:
            assert gif.n_frames == 6 and gif.size == (64, 64)
        assert downloaded(page, playwright, "dst.editing_sweep.mp4")[4:8] == b"ftyp"


def test_a_large_photo_is_shown_scaled_down_and_exported_at_its_size(predictor, photo_inverter, tmp_path):
    large = tmp_path / "large.png"
    portrait = load_rgb(PORTRAIT)
    portrait.resize((portrait.width * 4, portrait.height * 4), Image.Resampling.BICUBIC).save(large)  # 1928 x 2400
    app = build_app(predictor, neutral=NEUTRAL, beta=BETA, photo_inverter=photo_inverter)
    pane = next(block for block in app.blocks.values() if block.elem_id == "edited_photo")
    shown = handler(app, "pick_photo")(None, str(large), progress=no_progress)
    session = next(value for value in shown.values() if isinstance(value, EditSession))
    assert session.pasted.shape == (2400, 1928, 3)
    shown_photo = shown[pane]["value"]
    assert shown_photo.shape == (PHOTO_DISPLAY_SIDE, 1285, 3)  # longest side PHOTO_DISPLAY_SIDE, aspect kept
    box = np.asarray(Image.fromarray(session.pasted).resize((1285, PHOTO_DISPLAY_SIDE), Image.Resampling.BOX))
    np.testing.assert_array_equal(shown_photo, box)
    full = handler(app, "full")(session, NEUTRAL, TARGET, BETA, False, 3.0, progress=no_progress)
    assert full[pane].shape == (PHOTO_DISPLAY_SIDE, 1285, 3)
    exported = session.export((0.0, 3.0))
    edited = np.asarray(Image.open(next(path for path in exported if path.endswith("large.edited.png"))))
    np.testing.assert_array_equal(edited, session.pasted)  # the export keeps the photo's size
    session.close()


def test_page_in_headless_chromium(editor, predictor, photo_inverter, monkeypatch, tmp_path):
    renders = []
    render = Editor.render
    monkeypatch.setattr(Editor, "render", lambda self, styles, preview=False: renders.append(preview) or
                        render(self, styles, preview))

    latent = np.random.default_rng(1).standard_normal((10, 64)).astype(np.float32)
    latent_path, not_an_image = str(tmp_path / "face.npy"), str(tmp_path / "holiday.jpg")
    np.save(latent_path, latent)
    with open(not_an_image, "w") as f:
        f.write("not a picture")
    base = editor.styles(predictor.source_latents()[0])
    app = build_app(predictor, neutral=NEUTRAL, beta=BETA, photo_inverter=photo_inverter)
    with served_page(app, tmp_path, monkeypatch) as (playwright, browser, url):
        expect = playwright.expect
        page = open_page(browser, url)
        status = page.locator("#status")
        expect(status).to_contain_text("Type a target", timeout=60_000)
        assert slider_value(page, "alpha") == 0  # no edit shown: the strength starts at 0
        expect(page.locator("#edited_photo")).to_be_hidden()  # a seed face has no photo
        np.testing.assert_array_equal(shown_image(page, "edited"), editor.render(base))

        page.locator("#target textarea, #target input").first.fill(TARGET)
        drag_slider(page, "alpha", 0.9)
        expect(status).to_contain_text("style channels", timeout=60_000)
        delta_s = editor.direction(NEUTRAL, TARGET, BETA).delta_s
        wait_for_image(page, "edited", editor.render(edit_styles(base, delta_s, slider_value(page, "alpha"))))
        assert re.search(r"moves \d+ of 200 style channels", status.inner_text())
        assert True in renders and False in renders  # previews while dragging, the full render on release
        boxes = [page.locator(f"#{name} img").bounding_box() for name in ("original", "edited")]
        assert boxes[0]["width"] == boxes[1]["width"] > 4 * 64  # scaled to the pane, previews as well

        for action, strength in ((lambda: type_slider(page, "alpha", 2.5), 2.5),  # typed, then Enter
                              (lambda: press_slider_keys(page, "alpha", "ArrowLeft", 3), 2.2)):  # arrow keys
            renders.clear()
            action()
            assert slider_value(page, "alpha") == strength
            wait_for_image(page, "edited", editor.render(edit_styles(base, delta_s, strength)))
            assert renders[-1] is False  # it ends with a full render

        page.get_by_role("button", name="Accept", exact=True).click()
        expect(status).to_contain_text("Accepted", timeout=60_000)
        accepted = edit_styles(base, delta_s, 2.2)
        assert slider_value(page, "alpha") == 0 and "face -> smiling face = 2.2 @ 0.05" in page.inner_text("#history")
        wait_for_image(page, "original", editor.render(accepted))  # the edit is the new start

        drag_slider(page, "beta", 1.0)
        expect(status).to_contain_text("keeps no style channel", timeout=60_000)
        page.get_by_role("button", name="Accept", exact=True).click()
        expect(status).to_contain_text("no edit to accept", timeout=60_000)
        page.get_by_role("button", name="Export files").click()
        expect(status).to_contain_text("no edit to export", timeout=60_000)
        type_slider(page, "beta", BETA)
        type_slider(page, "alpha", 1)
        wait_for_image(page, "edited", editor.render(edit_styles(accepted, delta_s, 1.0)))
        page.locator("#strip textarea, #strip input").first.fill("-1 one 2")
        page.get_by_role("button", name="Export files").click()
        expect(status).to_contain_text("strip strength 'one' is not a number", timeout=60_000)
        page.locator("#strip textarea, #strip input").first.fill("-1 2")
        page.get_by_role("button", name="Export files").click()
        expect(status).to_contain_text("Exported", timeout=60_000)
        expect(page.get_by_role("cell", name="dst.editing_strip.png")).to_be_visible(timeout=30_000)
        assert page.get_by_role("row", name="Remove this file").count() == 8  # src, -1, 2, 1 (current), dst, strip, S, recipe
        page.get_by_role("button", name="Undo").click()
        expect(status).to_contain_text("Undone", timeout=60_000)
        wait_for_image(page, "original", editor.render(base))

        page.get_by_text("face with glasses").first.click()  # an example: its texts, then the edit
        expect(page.locator("#target textarea, #target input").first).to_have_value("face with glasses")
        expect(status).to_contain_text("'face' -> 'face with glasses'", timeout=60_000)

        page.get_by_role("tab", name="Photo").click()
        for path, message in ((not_an_image, "cannot read holiday.jpg as an image"),
                              (NO_FACE_PHOTO, "no face found in no_face_church.jpg")):
            page.locator("#photo input[type=file]").set_input_files(path)
            expect(status).to_contain_text(message, timeout=60_000)
            assert str(tmp_path) not in status.inner_text() and "gradio" not in status.inner_text()
        page.locator("#photo input[type=file]").set_input_files(FACE_PHOTO)
        expect(status).to_contain_text("New face", timeout=60_000)
        assert shown_image(page, "aligned").shape == (256, 256, 3)
        np.testing.assert_array_equal(shown_image(page, "inversion"), shown_image(page, "original"))
        photo, quad = np.asarray(load_rgb(FACE_PHOTO)), photo_inverter.align(FACE_PHOTO)[0].quad
        wait_for_image(page, "edited_photo", paste_face(photo, editor.render(base), quad)[0])  # at its own size
        type_slider(page, "alpha", 2)
        glasses = editor.render(edit_styles(base, editor.direction(NEUTRAL, "face with glasses", BETA).delta_s, 2.0))
        wait_for_image(page, "edited", glasses)
        wait_for_image(page, "edited_photo", paste_face(photo, glasses, quad)[0])
        page.get_by_role("tab", name="Seed").click()
        page.get_by_role("button", name="Sample face").click()
        expect(status).to_contain_text("New face", timeout=60_000)
        expect(page.locator("#edited_photo")).to_be_hidden()
        page.get_by_role("tab", name="Latent (.npy)").click()
        page.locator("#latent input[type=file]").set_input_files(latent_path)
        expect(status).to_contain_text("New face", timeout=60_000)  # the server kept running
        wait_for_image(page, "original", editor.render(editor.styles(latent)))
        assert page.get_by_text("Error", exact=True).count() == 0  # no failed event: errors go to the status line
        page.screenshot(path=str(tmp_path / "page.png"))


SOAK_TARGETS = ("smiling face", "face with glasses", "face with a beard", "old face")


def resident_mb():
    """Resident memory of this process (the page's server), in MB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


class SoakUser:
    """One person on the page: random edits (drags, typed values, arrow keys, Accept, Reset, texts), each
    checked against the render of what this person's edits should give, computed here."""

    def __init__(self, editor, page, seed):
        self.editor, self.page, self.rng = editor, page, np.random.default_rng(seed)
        self.target = SOAK_TARGETS[seed % len(SOAK_TARGETS)]
        self.start = editor.styles(editor.seed_latent(seed))
        self.base, self.accepted = self.start, 0
        self.page.locator("#seed input").fill(str(seed))
        self.page.get_by_role("button", name="Sample face").click()
        self.text(self.target)

    def expected(self, strength):
        delta_s = self.editor.direction(NEUTRAL, self.target, BETA).delta_s
        return edit_styles(self.base, delta_s, strength)

    def text(self, target):
        self.target = target
        set_target(self.page, target)
        return self.check()

    def check(self):
        strength = slider_value(self.page, "alpha")
        wait_for_image(self.page, "edited", self.editor.render(self.expected(strength) if strength else self.base))
        return strength

    def edit(self):
        """One random edit, ended by the full render it should give. It starts after a person's pause, once
        the page's settle time has passed (actions within it: see test_a_button_right_after_typing_...)."""
        page, choice = self.page, self.rng.integers(7 if self.accepted < 4 else 6)
        page.wait_for_timeout(KEY_SETTLE_MS + 100)
        if choice == 0:
            drag_slider(page, "alpha", self.rng.uniform(0.55, 0.95))
        elif choice == 1:
            type_slider(page, "alpha", round(float(self.rng.uniform(-8, 8)), 1))
        elif choice == 2:
            press_slider_keys(page, "alpha", str(self.rng.choice(["ArrowLeft", "ArrowRight"])),
                              int(self.rng.integers(1, 4)))
        elif choice == 3:
            return self.text(str(self.rng.choice([t for t in SOAK_TARGETS if t != self.target])))
        elif choice == 4:
            page.get_by_role("button", name="Reset", exact=True).click()
            self.base, self.accepted = self.start, 0
            return wait_for_image(page, "original", self.editor.render(self.base))
        elif choice in (5, 6):
            strength = self.check()
            if strength == 0:
                return type_slider(page, "alpha", 1.5) or self.check()
            page.get_by_role("button", name="Accept", exact=True).click()
            self.base, self.accepted = self.expected(strength), self.accepted + 1
            return wait_for_image(page, "original", self.editor.render(self.base))
        self.check()


def soak(editor, predictor, monkeypatch, tmp_path, edits):
    """Two people editing at once, ``edits`` edits each; returns the server's RSS (MB) after 5 and after all."""
    failures = []
    render = Editor._render

    def recording(self, styles, preview):
        try:
            return render(self, styles, preview)
        except Exception as exc:
            failures.append(repr(exc))
            raise

    monkeypatch.setattr(Editor, "_render", recording)
    app = build_app(predictor, neutral=NEUTRAL, beta=BETA)
    with served_page(app, tmp_path, monkeypatch) as (_, browser, url):
        users = [SoakUser(editor, open_page(browser, url), seed) for seed in (3, 4)]
        memory = []
        for step in range(edits):
            for user in users:  # one after the other, each with its own session
                user.edit()
            if step == 4:
                memory.append(resident_mb())
        memory.append(resident_mb())
        for user in users:
            assert user.page.get_by_text("Error", exact=True).count() == 0
            assert "Error" not in user.page.locator("#status").inner_text()
    assert failures == []
    return memory


def test_two_users_soak_briefly(editor, predictor, monkeypatch, tmp_path):
    soak(editor, predictor, monkeypatch, tmp_path, edits=6)


@pytest.mark.slow
def test_two_users_soak_memory_settles(editor, predictor, monkeypatch, tmp_path):
    after_five, after_all = soak(editor, predictor, monkeypatch, tmp_path, edits=40)
    print(f"server RSS after 5 edits per user: {after_five:.0f} MB, after 40: {after_all:.0f} MB")
    assert after_all - after_five < 300, (after_five, after_all)


def channels_moved(predictor, neutral, target, beta):
    """Style channels an edit moves at ``beta``, computed here from the direction file and CLIP's text direction."""
    g = predictor.generator
    delta_t = predictor.text_direction.delta_t(neutral, target)
    return edit_direction(predictor.fs3, delta_t, beta, g.channels_lst, g.style_layers).moved


def test_apply_text_says_what_it_selected_and_what_next(editor, predictor, monkeypatch, tmp_path):
    moved = channels_moved(predictor, NEUTRAL, TARGET, BETA)
    app = build_app(predictor, neutral=NEUTRAL, beta=BETA)
    with served_page(app, tmp_path, monkeypatch) as (playwright, browser, url):
        page = open_page(browser, url)
        status = page.locator("#status")
        playwright.expect(status).to_contain_text("Type a target", timeout=60_000)
        page.locator("#target textarea, #target input").first.fill(TARGET)
        page.get_by_role("button", name="Apply text").click()
        playwright.expect(status).to_contain_text("style channels", timeout=60_000)
        text = status.inner_text()
        assert f"beta {BETA:g} moves {moved} of {STYLE_CHANNELS} style channels" in text, text
        assert "move the Strength slider" in text, text
        assert "Type a target" not in text


def test_a_strength_out_of_the_slider_range_is_clamped_and_said(editor, predictor, monkeypatch, tmp_path, capfd):
    """A number typed into a slider's box beyond its range: clamped, said in the status line, no Gradio error."""
    base = editor.styles(predictor.source_latents()[0])
    delta_s = editor.direction(NEUTRAL, TARGET, BETA).delta_s
    app = build_app(predictor, neutral=NEUTRAL, target=TARGET, strength=1.0, beta=BETA)
    with served_page(app, tmp_path, monkeypatch) as (playwright, browser, url):
        page = open_page(browser, url)
        status = page.locator("#status")
        wait_for_image(page, "edited", editor.render(edit_styles(base, delta_s, 1.0)))
        capfd.readouterr()
        type_slider(page, "alpha", 50)
        playwright.expect(status).to_contain_text("Strength 50 is outside the slider's range -10 to 10: set to 10.",
                                                  timeout=60_000)
        playwright.expect(page.locator("#alpha input[type=number]")).to_have_value("10", timeout=30_000)
        wait_for_image(page, "edited", editor.render(edit_styles(base, delta_s, 10.0)))
        assert f"moves {channels_moved(predictor, NEUTRAL, TARGET, BETA)} of" in status.inner_text()

        type_slider(page, "beta", 5)  # clamped to 0.4, which keeps no channel of these directions
        playwright.expect(status).to_contain_text("Beta 5 is outside the slider's range 0.05 to 0.4: set to 0.4.",
                                                  timeout=60_000)
        playwright.expect(status).to_contain_text("keeps no style channel", timeout=60_000)
        playwright.expect(page.locator("#beta input[type=number]")).to_have_value("0.4", timeout=30_000)
        assert page.get_by_text("Error", exact=True).count() == 0  # no Gradio toast nor error badge
        assert "Traceback" not in capfd.readouterr().err


def test_page_messages_name_inputs_in_the_page_words(predictor):
    """Every input a library message the page can show names, named as the page names it (not as a flag)."""
    messages = {}
    for name, make_error in (
            ("target", lambda: check_texts(NEUTRAL, "face " * 80, predictor.templates)),
            ("neutral", lambda: check_texts("face " * 80, TARGET, predictor.templates)),
            ("direction_offset", lambda: parse_strengths("1 nan")),
            ("latent", lambda: load_latent_file("/no/such/face.npy")),
            ("beta_threshold", lambda: edit_direction(np.eye(2, 512, dtype=np.float32) * 0.01, np.eye(1, 512)[0],
                                                      "auto", [2], [0]))):
        with pytest.raises(UserError) as caught:
            make_error()
        assert name in str(caught.value)  # the library names it by its argument name
        messages[name] = error_message(caught.value)
        assert PAGE_WORDS[name] in messages[name] and "--" not in messages[name], messages[name]
    assert "the Target field" in messages["target"] and PAGE_WORDS["templates"] + " paddlegan" in messages["target"]
    assert messages["beta_threshold"].count("the beta slider") == 2
    assert error_message(UserError("pass the landmark model to {landmark_model}")) == (
        "**Error:** pass the landmark model to the page's start option --landmark_model")  # only the server sets it


def test_page_errors_speak_of_the_page_fields(predictor, monkeypatch, tmp_path):
    not_a_latent = tmp_path / "notes.npy"
    not_a_latent.write_text("shopping list")
    app = build_app(predictor, neutral=NEUTRAL, beta=BETA)
    with served_page(app, tmp_path, monkeypatch) as (playwright, browser, url):
        page = open_page(browser, url)
        status = page.locator("#status")
        page.locator("#target textarea, #target input").first.fill("face " * 80)
        page.get_by_role("button", name="Apply text").click()
        playwright.expect(status).to_contain_text("CLIP tokens", timeout=60_000)
        text = status.inner_text()
        assert text.startswith("Error: the Target field 'face face") and "the prompt template set paddlegan" in text
        assert "--" not in text, text
        page.get_by_role("tab", name="Latent (.npy)").click()
        page.locator("#latent input[type=file]").set_input_files(str(not_a_latent))
        playwright.expect(status).to_contain_text("the uploaded W+ .npy notes.npy is not a numpy .npy file",
                                                  timeout=60_000)


@pytest.fixture
def group_inverter(editor, monkeypatch):
    """(the page's inverter up to pSp, W+ of each face): the photo's alignment, then face i's W+ sampled from
    seed 20 + i."""
    latents = [editor.seed_latent(20 + index) for index in range(2)]
    inverter = PhotoInverter()
    monkeypatch.setattr(inverter, "encode", lambda faces: np.stack([latents[face.index] for face in faces]))
    return inverter, latents


def test_a_group_photo_says_which_face_it_edits_and_offers_the_others(editor, group_inverter, monkeypatch, tmp_path):
    inverter, latents = group_inverter
    group = str(tmp_path / "group.png")
    two_face_photo().save(group)
    photo, faces = np.asarray(load_rgb(group)), inverter.align(group, None)
    assert len(faces) == 2 and faces[0].quad[:, 0].mean() < 400 < faces[1].quad[:, 0].mean()  # the left one larger
    delta_s = editor.direction(NEUTRAL, TARGET, BETA).delta_s
    app = build_app(editor.predictor, neutral=NEUTRAL, beta=BETA, photo_inverter=inverter)
    with served_page(app, tmp_path, monkeypatch) as (playwright, browser, url):
        expect = playwright.expect
        page = open_page(browser, url)
        status, menu = page.locator("#status"), page.locator("#face")
        page.get_by_role("tab", name="Photo").click()
        expect(menu).to_be_hidden()
        page.locator("#photo input[type=file]").set_input_files(group)
        expect(status).to_contain_text("Editing face 1 of 2 (the largest); pick another in the Face menu",
                                       timeout=60_000)
        expect(menu).to_be_visible()
        first = editor.render(editor.styles(latents[0]))
        wait_for_image(page, "original", first)
        wait_for_image(page, "edited_photo", paste_face(photo, first, faces[0].quad)[0])

        menu.locator("input").click()
        page.get_by_role("option", name="Face 2").click()
        expect(status).to_contain_text("Editing face 2 of 2; pick another in the Face menu", timeout=60_000)
        second = editor.styles(latents[1])
        wait_for_image(page, "original", editor.render(second))
        wait_for_image(page, "aligned", np.asarray(faces[1].image))
        page.locator("#target textarea, #target input").first.fill(TARGET)
        type_slider(page, "alpha", 3)
        edited = editor.render(edit_styles(second, delta_s, 3.0))
        wait_for_image(page, "edited", edited)
        wait_for_image(page, "edited_photo", paste_face(photo, edited, faces[1].quad)[0])  # pasted over face 2

        page.locator("#photo input[type=file]").set_input_files(FACE_PHOTO)  # one face: no menu
        expect(status).to_contain_text("New face", timeout=60_000)
        expect(menu).to_be_hidden()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopping_the_server_removes_its_export_folders(files, tmp_path, stop):
    """The real script on a free port: an export in the browser, then the signal; no export folder survives."""
    playwright = browser_driver()
    temp, port = tmp_path / "temp", free_port()
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [sys.executable, CLI, "--weight_path", files["generator.pdparams"], "--direction_path",
               files["fs3.pdparams"], "--clip_weight_path", files["clip.pdparams"], "--target", TARGET,
               "--direction_offset", "2", "--beta_threshold", str(BETA), "--preview_size", str(PREVIEW),
               "--port", str(port)]
    with open(tmp_path / "server.log", "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{port}/"
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_context().new_page()
            deadline = time.monotonic() + 300
            while True:  # the models load, then Gradio serves
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                with contextlib.suppress(playwright.Error):
                    page.goto(url, timeout=30_000)
                    break
                assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                page.wait_for_timeout(1000)
            playwright.expect(page.locator("#status")).to_contain_text("style channels", timeout=180_000)
            page.get_by_role("button", name="Export files").click()
            playwright.expect(page.locator("#status")).to_contain_text("Exported", timeout=120_000)
            browser.close()
        exports = [name for name in os.listdir(temp) if name.startswith("styleclip_app_")]
        assert len(exports) == 1 and STYLES_NAME in os.listdir(temp / exports[0])
        server.send_signal(stop)
        server.wait(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert [name for name in os.listdir(temp) if name.startswith("styleclip_app_")] == [], (
        (tmp_path / "server.log").read_text())

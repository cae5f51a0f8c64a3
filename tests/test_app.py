"""The editing page: session caching, the low-resolution preview, chained edits, exports, and the page in Chromium.

One tiny random 64 px generator (200 non-toRGB style channels), a random
direction file of unit rows (|r| at most ~0.15: beta 0.4 keeps no channel) and a
random ViT-B/32 per module. The browser test needs Debian's chromium and the
``playwright`` package (no browser download); it is skipped without them.
"""
import concurrent.futures
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import paddle

from ppgan.apps.styleclip_app import Editor, EditSession, app_parser, build_app, preview_generator
from ppgan.apps.styleganv2clip_predictor import DST_NAME, STRIP_NAME, STYLES_NAME, StyleGANv2ClipPredictor
from ppgan.faceutils import FaceAligner
from ppgan.models.generators import StyleGANv2Generator
from ppgan.modules.modulated_conv import ModulatedConv2D
from ppgan.styleclip.clip_encoder import save_random_clip_weights
from ppgan.styleclip.directions import edit_styles
from ppgan.utils import compiled
from ppgan.utils.errors import UserError
from ppgan.utils.image import to_uint8

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")  # gradio's own pandas deprecations

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CLI = os.path.join(REPO, "applications", "tools", "styleclip_app.py")
NO_FACE_PHOTO = os.path.join(REPO, "tests", "fixtures", "no_face_church.jpg")
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
    for alpha in (1.0, 2.5, -4.0):
        session.edit(NEUTRAL, target, BETA, alpha, preview=True)
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
    jobs = [(edit_styles(base, delta_s, alpha), preview) for alpha in np.linspace(-5, 5, 10) for preview in (0, 1)]
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


def test_accept_chains_edits_and_reset_goes_back(editor, predictor, tmp_path):
    session = EditSession(editor, predictor.source_latents()[0])
    original = session.base
    session.edit(NEUTRAL, TARGET, BETA, 3.0)
    first = session.styles
    session.accept()
    assert session.alpha == 0.0
    np.testing.assert_array_equal(session.base_image, predictor.render_styles(first)[0])
    session.edit(NEUTRAL, "face with glasses", BETA, 2.0)
    second = editor.direction(NEUTRAL, "face with glasses", BETA).delta_s
    for chained, start, delta in zip(session.styles, first, second):
        np.testing.assert_allclose(chained, start + 2.0 * delta, rtol=1e-6, atol=1e-6)

    codes = session.strip_styles([-1.0, 0.0, 2.0])
    paths = session.export(str(tmp_path), [editor.render(code) for code in codes])
    assert [os.path.basename(path) for path in paths] == [DST_NAME, STRIP_NAME, STYLES_NAME]
    assert Image.open(paths[1]).size == (64 * 4, 64)
    saved = paddle.load(paths[2])
    assert [list(s.shape) for s in saved] == [[1, c] for c in predictor.generator.channels_lst]
    np.testing.assert_array_equal(saved[3].numpy(), session.styles[3])

    session.reset()
    assert session.base is original and session.alpha == 0.0
    with pytest.raises(UserError, match="no edit"):
        EditSession(editor, predictor.source_latents()[0]).strip_styles([1.0])


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


def test_page_in_headless_chromium(predictor, monkeypatch, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is missing: pip install playwright")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    renders = []
    render = Editor.render
    monkeypatch.setattr(Editor, "render", lambda self, styles, preview=False: renders.append(preview) or
                        render(self, styles, preview))

    aligner = FaceAligner()

    def align_then_sample(path):  # the photo path up to pSp: alignment raises for a photo without a face
        aligner(path, 256)
        return predictor.source_latents()[0]

    latent_path = str(tmp_path / "face.npy")
    np.save(latent_path, np.random.default_rng(1).standard_normal((10, 64)).astype(np.float32))
    port = free_port()
    app = build_app(predictor, neutral=NEUTRAL, alpha=0.0, beta=BETA, photo_inverter=align_then_sample)
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                       ssr_mode=False)
    expect = playwright.expect
    try:
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                viewport={"width": 1400, "height": 1000})
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            status = page.locator("#status")
            expect(status).to_contain_text("Type a target", timeout=60_000)
            edited = page.locator("#edited img")
            edited.wait_for(timeout=30_000)
            source = edited.get_attribute("src")

            page.locator("#target textarea, #target input").first.fill(TARGET)
            drag_slider(page, "alpha", 0.9)
            expect(status).to_contain_text("style channels", timeout=60_000)
            expect(status).not_to_contain_text("preview", timeout=30_000)
            assert re.search(r"moves \d+ of 200 style channels", status.inner_text())
            page.wait_for_function(f"document.querySelector('#edited img').src !== {source!r}", timeout=30_000)
            assert True in renders and False in renders  # previews while dragging, the full render on release

            original = page.locator("#original img").get_attribute("src")
            page.get_by_role("button", name="Accept").click()
            expect(status).to_contain_text("Accepted", timeout=60_000)
            assert page.locator("#alpha input[type=number]").input_value() == "0"
            assert page.locator("#original img").get_attribute("src") != original  # the edit is the new start

            drag_slider(page, "beta", 1.0)
            expect(status).to_contain_text("keeps no style channel", timeout=60_000)

            page.get_by_role("tab", name="Photo").click()
            page.locator("#photo input[type=file]").set_input_files(NO_FACE_PHOTO)
            expect(status).to_contain_text("no face found", timeout=60_000)
            page.get_by_role("tab", name="Latent (.npy)").click()
            original = page.locator("#original img").get_attribute("src")
            page.locator("#latent input[type=file]").set_input_files(latent_path)
            expect(status).to_contain_text("New face", timeout=60_000)  # the server kept running
            assert page.locator("#original img").get_attribute("src") != original
            page.screenshot(path=str(tmp_path / "page.png"))
            browser.close()
    finally:
        app.close()

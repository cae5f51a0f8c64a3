"""Text edits with global directions: the predictor against numpy, output files, the CLI and its errors.

One random ViT-B/32 file and one tiny random 32 px generator (W+ [8, 512], 168
non-toRGB style channels) per module, with a random direction file and
statistics made for it.
"""
import os
import subprocess
import sys
import types

import clip
import imageio_ffmpeg
import numpy as np
import paddle
import pytest
from conftest import listing, raises_user_error
from PIL import Image

from ppgan.apps.styleganv2clip_predictor import StyleGANv2ClipPredictor
from ppgan.cli import edit as edit_command
from ppgan.cli.edit import main as edit_main
from ppgan.cli.styleclip import main
from ppgan.inversion import read_latents
from ppgan.models.generators import StyleGANv2Generator
from ppgan.styleclip import outputs, sweep
from ppgan.styleclip.clip import save_random_clip_weights
from ppgan.styleclip.compose import EditSpec, composition_name, edit_text, parse_edit
from ppgan.styleclip.edit import as_beta, as_strengths
from ppgan.styleclip.outputs import STRIP_NAME, strip_image
from ppgan.styleclip.stats import write_stats
from ppgan.styleclip.sweep import check_sweep, sweep_frames, sweep_strengths
from ppgan.styleclip.text import load_templates
from ppgan.utils.errors import UserError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CLI = os.path.join(REPO, "applications", "tools", "styleganv2clip.py")
PREDICTOR_FILE = os.path.join(REPO, "ppgan", "apps", "styleganv2clip_predictor.py")  # run as a file, with subcommands
PORTRAIT = os.path.join(REPO, "tests", "fixtures", "face_psp_input.jpg")

CHANNELS = {4: 32, 8: 32, 16: 16, 32: 8}
GENERATOR = dict(size=32, style_dim=512, n_mlp=2, channels=CHANNELS)
GENERATOR_FLAGS = ["--size", "32", "--style_dim", "512", "--n_mlp", "2", "--channels", "4:32,8:32,16:16,32:8", "--cpu"]
N_LATENT = 8
STYLE_LAYERS = [0, 2, 3, 5, 6, 8, 9]
TORGB_LAYERS = [1, 4, 7, 10]
LAYER_WIDTHS = [32, 32, 32, 32, 32, 32, 16, 16, 16, 8, 8]
STYLE_CHANNELS = 168
PARTIAL_ROWS = 144  # an official fs3.npy stopping after layer 6 (16 px): layers 8 and 9 missing
NEUTRAL, TARGET = "face", "face with a big smile"
KEPT = 10  # the beta of most tests keeps the 10 most relevant channels


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def expected_delta_s(flat):
    """Flat non-toRGB vector [168] -> per-layer list in the S layout, toRGB zero (written out by hand)."""
    layers = [np.zeros(width, np.float32) for width in LAYER_WIDTHS]
    for layer, part in zip(STYLE_LAYERS, np.split(flat, np.cumsum([LAYER_WIDTHS[i] for i in STYLE_LAYERS])[:-1])):
        layers[layer] = part
    return layers


def numpy_selection(relevance, beta):
    return np.where(np.abs(relevance) >= beta, relevance, 0.0) / np.abs(relevance).max()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Paths of the random model files, directions, statistics and latents of this module."""
    root = tmp_path_factory.mktemp("edit_files")
    paths = {name: str(root / name) for name in
             ("generator.pdparams", "clip.pdparams", "fs3.pdparams", "fs3.npy", "stats.pdparams", "latents.npy")}
    paddle.seed(0)
    generator = StyleGANv2Generator(**GENERATOR)
    assert generator.channels_lst == LAYER_WIDTHS and generator.style_layers == STYLE_LAYERS
    paddle.save(generator.state_dict(), paths["generator.pdparams"])
    save_random_clip_weights(paths["clip.pdparams"], seed=0)
    rng = np.random.default_rng(0)
    fs3 = unit(rng.standard_normal((STYLE_CHANNELS, 512))).astype(np.float32)
    paddle.save(paddle.to_tensor(fs3), paths["fs3.pdparams"])
    np.save(paths["fs3.npy"], fs3[:PARTIAL_ROWS].astype(np.float64))
    write_stats(paths["stats.pdparams"], [rng.standard_normal(w).astype(np.float32) for w in LAYER_WIDTHS],
               [rng.uniform(0.5, 2.0, w).astype(np.float32) for w in LAYER_WIDTHS])
    np.save(paths["latents.npy"], rng.standard_normal((2, N_LATENT, 512)).astype(np.float32))
    return paths


def make_predictor(files, output_path="unused_output", **kwargs):
    options = dict(weight_path=files["generator.pdparams"], direction_path=files["fs3.pdparams"],
                   clip_weight_path=files["clip.pdparams"], **GENERATOR)
    return StyleGANv2ClipPredictor(output_path, **{**options, **kwargs})


@pytest.fixture(scope="module")
def predictor(files):
    return make_predictor(files)


@pytest.fixture(scope="module")
def reference(predictor, files):
    """delta_t and relevance computed independently: paddleclip's own encode_text on every prompt, then numpy."""
    model = predictor.text_direction.encoder.model  # the same CLIP weights
    templates = load_templates("paddlegan")

    def feature(text):
        with paddle.no_grad():
            embeddings = model.encode_text(clip.tokenize([t.format(text) for t in templates])).numpy()
        return unit(unit(embeddings).mean(axis=0))

    delta_t = unit(feature(TARGET) - feature(NEUTRAL))
    relevance = paddle.load(files["fs3.pdparams"]).numpy() @ delta_t
    magnitudes = np.sort(np.abs(relevance))[::-1]
    beta = float((magnitudes[KEPT - 1] + magnitudes[KEPT]) / 2)
    return dict(delta_t=delta_t, relevance=relevance, beta=beta,
                delta_s=expected_delta_s(numpy_selection(relevance, beta)))


def edit_argv(files, out, *extra):
    return ["--weight_path", files["generator.pdparams"], "--direction_path", files["fs3.pdparams"],
            "--clip_weight_path", files["clip.pdparams"], "--output_path", str(out), *GENERATOR_FLAGS, *extra]


def run_cli(*args, script=CLI):
    return subprocess.run([sys.executable, script, *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def styles_of(predictor, latents):
    with paddle.no_grad():
        return [s.numpy() for s in predictor.generator.style_affine(paddle.to_tensor(latents))]


# ---- the math against numpy ----------------------------------------------------------------------

def test_delta_t_and_delta_s_match_numpy(predictor, reference):
    delta_t = predictor.text_direction.delta_t(NEUTRAL, TARGET)
    np.testing.assert_allclose(delta_t, reference["delta_t"], atol=1e-4)

    direction = predictor.style_direction(delta_t, reference["beta"])
    assert (direction.moved, direction.channels) == (KEPT, STYLE_CHANNELS)
    assert direction.max_relevance == pytest.approx(np.abs(reference["relevance"]).max(), abs=1e-4)
    for layer, (ours, expected) in enumerate(zip(direction.delta_s, reference["delta_s"])):
        np.testing.assert_allclose(ours, expected, atol=1e-4, err_msg=f"layer {layer}")
    assert all(not direction.delta_s[layer].any() for layer in TORGB_LAYERS)


def test_scale_by_std_multiplies_each_channel_by_its_std(files, predictor, reference):
    scaled = make_predictor(files, scale_by_std=True, stat_path=files["stats.pdparams"])
    std = paddle.load(files["stats.pdparams"])["std"]
    plain = predictor.style_direction(reference["delta_t"], reference["beta"]).delta_s
    for layer, (ours, raw) in enumerate(zip(scaled.style_direction(reference["delta_t"], reference["beta"]).delta_s,
                                            plain)):
        np.testing.assert_allclose(ours, raw * std[layer].numpy(), rtol=1e-6, err_msg=f"layer {layer}")
    assert predictor.channel_std is None  # statistics are read only for --scale_by_std


def test_auto_beta_is_the_official_gui_rule(files, predictor):
    fs3 = paddle.load(files["fs3.pdparams"]).numpy()
    delta_t = unit(fs3[:30].sum(axis=0))  # 30 channels with |r| around 0.18, the rest around 0.04
    relevance = fs3 @ delta_t
    grid = [round(0.10 + 0.01 * i, 2) for i in range(20)]
    expected = max(beta for beta in grid if np.sum(np.abs(relevance) >= beta) > 20)
    assert 0.10 < expected < 0.29

    direction = predictor.style_direction(delta_t, "auto")
    assert direction.beta == expected and direction.moved == np.sum(np.abs(relevance) >= expected) > 20
    np.testing.assert_allclose(np.concatenate([direction.delta_s[i] for i in STYLE_LAYERS]),
                               numpy_selection(relevance, expected), atol=1e-6)


def test_official_fs3_with_fewer_rows_leaves_the_last_layers_still(files, predictor):
    partial = make_predictor(files, direction_path=files["fs3.npy"])
    fs3 = paddle.load(files["fs3.pdparams"]).numpy()
    delta_t = unit(fs3[PARTIAL_ROWS:].sum(axis=0) + fs3[:5].sum(axis=0))
    direction = partial.style_direction(delta_t, 0.01)
    assert not direction.delta_s[8].any() and not direction.delta_s[9].any()
    relevance = fs3[:PARTIAL_ROWS] @ delta_t
    flat = np.concatenate([direction.delta_s[i] for i in STYLE_LAYERS])
    np.testing.assert_allclose(flat[:PARTIAL_ROWS], numpy_selection(relevance, 0.01), atol=1e-6)
    assert predictor.style_direction(delta_t, 0.01).delta_s[9].any()  # the full file moves them


# ---- rendering and output files ------------------------------------------------------------------

def test_cli_writes_the_edit_files(files, predictor, reference, tmp_path):
    out = tmp_path / "out"
    latent = np.load(files["latents.npy"])[0]
    np.save(tmp_path / "face.npy", latent)
    result = run_cli(*edit_argv(files, out, "--latent", str(tmp_path / "face.npy"), "--neutral", NEUTRAL,
                                "--target", TARGET, "--beta_threshold", str(reference["beta"]),
                                "--direction_offset", "-1", "0", "2.5"))
    assert result.returncode == 0, result.stderr
    assert f"moves {KEPT} of {STYLE_CHANNELS} style channels (max |r| " in result.stdout
    assert listing(out) == sorted(["src.editing.png", "dst.editing_-1.png", "dst.editing_0.png", "dst.editing_2.5.png",
                                   "dst.editing.png", STRIP_NAME, "dst.editing.pd"])

    def image(name):
        return np.asarray(Image.open(out / name))

    src = image("src.editing.png")
    assert src.shape == (32, 32, 3)
    np.testing.assert_array_equal(image("dst.editing_0.png"), src)
    np.testing.assert_array_equal(image("dst.editing.png"), image("dst.editing_2.5.png"))
    assert not np.array_equal(image("dst.editing_2.5.png"), src)
    np.testing.assert_array_equal(image(STRIP_NAME), np.concatenate(
        [src, image("dst.editing_-1.png"), image("dst.editing_0.png"), image("dst.editing_2.5.png")], axis=1))

    edited = paddle.load(str(out / "dst.editing.pd"))
    source = styles_of(predictor, latent[None])
    assert [list(s.shape) for s in edited] == [[1, width] for width in LAYER_WIDTHS]
    for layer, (ours, base, delta) in enumerate(zip(edited, source, reference["delta_s"])):
        np.testing.assert_allclose(ours.numpy() - base, 2.5 * delta[None], atol=1e-4, err_msg=f"layer {layer}")
        if layer in TORGB_LAYERS:
            np.testing.assert_array_equal(ours.numpy(), base)


def test_batched_renders_equal_single_renders(files, predictor, reference):
    latents = np.load(files["latents.npy"])
    delta_s = reference["delta_s"]
    images, last = predictor.render_edits(latents, delta_s, (3.0, 0.0, -2.0), batch_size=3)
    assert images.shape == (2, 4, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[:, 2], images[:, 0])  # offset 0 is the source
    for face in range(2):
        source = styles_of(predictor, latents[face:face + 1])
        alone = predictor.render_styles([s + 3.0 * d for s, d in zip(source, delta_s)])[0]
        assert np.abs(alone.astype(int) - images[face, 1]).max() <= 1
        np.testing.assert_allclose(last[0][face], source[0][0] - 2.0 * delta_s[0], atol=1e-5)


@pytest.mark.parametrize("strengths, renders", [((3.0, -2.0), 4), ((3.0, 0.0, -2.0), 6)])
def test_renders_without_the_source_skip_its_render(files, predictor, reference, strengths, renders):
    """``source=False`` (the video path): the strengths' images alone, and the source rendered only for a 0."""
    latents = np.load(files["latents.npy"])
    counted = []
    edits, _ = predictor.render_edits(latents, reference["delta_s"], strengths, batch_size=1, source=False,
                                      progress=counted.append)
    assert edits.shape == (2, len(strengths), 32, 32, 3) and sum(counted) == renders
    for k, strength in enumerate(strengths):
        for face in range(2):
            source = styles_of(predictor, latents[face:face + 1])
            alone = predictor.render_styles([s + strength * d for s, d in zip(source, reference["delta_s"])])[0]
            np.testing.assert_array_equal(edits[face, k], alone)


def test_several_faces_get_one_folder_each(files, predictor, reference, tmp_path):
    predictor.output_path = str(tmp_path / "out")
    latents = np.load(files["latents.npy"])
    result = predictor.run(files["latents.npy"], NEUTRAL, TARGET, [1, 3], reference["beta"])
    direction, folders = result.direction, result.folders
    assert folders == [str(tmp_path / "out" / "face_0"), str(tmp_path / "out" / "face_1")]
    names = sorted(["src.editing.png", "dst.editing_1.png", "dst.editing_3.png", "dst.editing.png", STRIP_NAME,
                    "dst.editing.pd"])
    assert listing(tmp_path / "out") == sorted(f"face_{i}/{name}" for i in range(2) for name in names)
    for face, folder in enumerate(folders):
        edited = paddle.load(os.path.join(folder, "dst.editing.pd"))
        source = styles_of(predictor, latents[face:face + 1])
        for ours, base, delta in zip(edited, source, direction.delta_s):
            np.testing.assert_allclose(ours.numpy(), base + 3.0 * delta[None], atol=1e-4)
    first, second = (np.asarray(Image.open(os.path.join(folder, "src.editing.png"))) for folder in folders)
    assert not np.array_equal(first, second)


def test_without_a_latent_a_face_is_sampled_from_the_seed(files, predictor):
    latents = predictor.source_latents()
    assert latents.shape == (1, N_LATENT, 512)
    np.testing.assert_array_equal(latents, predictor.sample_latents(1).numpy())
    assert (latents == latents[:, :1]).all()  # W tiled to every row


def test_latent_shapes():
    w_plus = np.random.default_rng(1).standard_normal((N_LATENT, 512)).astype(np.float32)
    np.testing.assert_array_equal(read_latents(w_plus, N_LATENT, 512), w_plus[None])
    np.testing.assert_array_equal(read_latents(w_plus[None].repeat(3, 0), N_LATENT, 512), w_plus[None].repeat(3, 0))
    np.testing.assert_array_equal(read_latents(w_plus[0], N_LATENT, 512), np.tile(w_plus[0], (1, N_LATENT, 1)))
    np.testing.assert_array_equal(read_latents(paddle.to_tensor(w_plus), N_LATENT, 512), w_plus[None])
    for bad in (np.zeros((18, 512)), np.zeros((N_LATENT, 256)), np.zeros((1, 1, N_LATENT, 512)),
                np.zeros((0, N_LATENT, 512)), np.zeros((N_LATENT, 512), np.int64), np.full((N_LATENT, 512), np.nan)):
        with pytest.raises(UserError, match="latent"):
            read_latents(bad, N_LATENT, 512)


def test_strip_of_large_renders_has_256_px_tiles():
    images = np.random.default_rng(2).integers(0, 256, (3, 1024, 1024, 3), dtype=np.uint8)
    strip = strip_image(images)
    assert strip.shape == (256, 3 * 256, 3) and strip.dtype == np.uint8
    expected = images[1, 4:8, 8:12].reshape(-1, 3).mean(axis=0)  # the tile of image 1, pixel (1, 2)
    np.testing.assert_allclose(strip[1, 256 + 2], expected, atol=0.5 + 1e-3)
    np.testing.assert_array_equal(strip_image(images[:, :256, :256]), np.concatenate(images[:, :256, :256], axis=1))


def test_offsets_and_beta_values():
    assert as_strengths(5) == (5.0,)
    assert as_strengths([-1, 0, -0.0, 2.5, 2.5]) == (-1.0, 0.0, 2.5)
    assert as_beta("auto") == "auto" and as_beta("0.1") == 0.1 and as_beta(0) == 0.0
    for bad in ("-0.1", "high", float("nan")):
        with pytest.raises(UserError, match="beta_threshold"):
            as_beta(bad)
    for bad in ([], [1, float("inf")], [1e30], [-101]):
        with raises_user_error("^--direction_offset [^[]*: pass one or more finite numbers"):
            as_strengths(bad)
    with raises_user_error("^--direction_offset 1 inf: "):
        as_strengths([1, float("inf")])


# ---- errors: one line, nothing written -----------------------------------------------------------

def test_beta_keeping_no_channel_names_the_largest_relevance(predictor, reference, files, tmp_path):
    predictor.output_path = str(tmp_path / "out")
    largest = np.abs(reference["relevance"]).max()
    with pytest.raises(UserError, match=r"largest \|relevance\| is .*; pass a beta below"):
        predictor.run(files["latents.npy"], NEUTRAL, TARGET, 5, largest + 0.05)
    assert not os.path.exists(tmp_path / "out")


def test_a_failed_write_leaves_no_file(predictor, reference, files, tmp_path, monkeypatch):
    def failing_save(*args, **kwargs):
        raise OSError("disk full")

    predictor.output_path = str(tmp_path / "out")
    monkeypatch.setattr(outputs.paddle, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        predictor.run(np.load(files["latents.npy"])[0], NEUTRAL, TARGET, [1, 2], reference["beta"])
    assert listing(tmp_path / "out") == []


@pytest.mark.parametrize("texts, message", [
    (["--target", "  "], "empty text"),
    (["--neutral", "", "--target", "old face"], "empty text"),
    (["--neutral", "face", "--target", " face "], "both 'face'"),
    # 80 + 2 words of one BPE token each, plus start and end tokens; the user's text, cut short, not a prompt
    (["--target", "very " * 80 + "old face"],
     r"^--target 'very very [a-z ]*\u2026' is 84 CLIP tokens and the longest prompt template of --templates "
     r"paddlegan adds \d+: over CLIP's limit of 77; shorten it to at most \d+ tokens$"),
    (["--target", "old face", "--templates", "official", "--beta_threshold", "often"], "beta_threshold"),
])
def test_bad_texts_fail_before_any_model_loads(files, tmp_path, monkeypatch, texts, message):
    monkeypatch.setattr(edit_command, "StyleGANv2ClipPredictor", None)  # would fail if it were reached
    with raises_user_error(message):
        edit_main(edit_argv(files, tmp_path / "out", *texts))
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize("flag, extra", [
    ("--latent", []), ("--direction_path", []), ("--weight_path", []), ("--clip_weight_path", []),
    ("--stat_path", ["--scale_by_std"]), ("--input_image", []),
])
def test_missing_files_are_one_line_errors(files, tmp_path, flag, extra):
    missing = str(tmp_path / "absent.file")
    with pytest.raises(UserError, match="absent.file"):
        edit_main(edit_argv(files, tmp_path / "out", "--target", "old face", flag, missing, *extra))
    assert not os.path.exists(tmp_path / "out")


def test_files_made_for_another_generator_are_rejected(files, tmp_path):
    fs3 = paddle.load(files["fs3.pdparams"]).numpy()
    paddle.save(paddle.to_tensor(np.concatenate([fs3, fs3[:2]])), str(tmp_path / "fs3_other.pdparams"))
    with pytest.raises(UserError, match=f"170 rows, the generator has {STYLE_CHANNELS}"):
        make_predictor(files, direction_path=str(tmp_path / "fs3_other.pdparams"))

    write_stats(str(tmp_path / "stats_other.pdparams"), [np.zeros(w, np.float32) for w in LAYER_WIDTHS[:-3]],
               [np.ones(w, np.float32) for w in LAYER_WIDTHS[:-3]])
    with pytest.raises(UserError, match="8 style layers, the generator 11"):
        make_predictor(files, scale_by_std=True, stat_path=str(tmp_path / "stats_other.pdparams"))
    with pytest.raises(UserError, match="paddlegan, official"):
        make_predictor(files, templates="imagenet")


def test_cli_wrong_latent_shape_exits_non_zero_with_one_line(files, tmp_path):
    np.save(tmp_path / "w.npy", np.zeros((18, 512), np.float32))
    out = tmp_path / "out"
    result = run_cli("edit", *edit_argv(files, out, "--latent", str(tmp_path / "w.npy"), "--target", "old face"),
                     script=PREDICTOR_FILE)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: latent of shape [18, 512] does not fit this generator; pass W+ [8, 512]")
    assert not out.exists()


# ---- photo input and subcommands -----------------------------------------------------------------

def test_input_image_is_inverted_then_edited(files, reference, tmp_path, monkeypatch, capsys):
    from ppgan.inversion import photo as inversion

    latent = np.load(files["latents.npy"])[1]
    calls = []

    def fake_encode(inverter, faces):
        calls.append((inverter.spec.weights, inverter.latent_shape, len(faces)))
        return latent[None]

    psp_path = tmp_path / "psp.pdparams"
    psp_path.write_bytes(b"")  # never read: the encoding is faked
    monkeypatch.setattr(inversion.PhotoInverter, "encode", fake_encode)
    edit_main(edit_argv(files, tmp_path / "out", "--input_image", PORTRAIT, "--psp_weight_path", str(psp_path),
                        "--neutral", NEUTRAL, "--target", TARGET, "--beta_threshold", str(reference["beta"])))
    assert calls == [(str(psp_path), (N_LATENT, 512), 1)]
    assert "moves 10 of 168" in capsys.readouterr().out
    edited = paddle.load(str(tmp_path / "out" / "dst.editing.pd"))
    predictor = make_predictor(files)
    for ours, base, delta in zip(edited, styles_of(predictor, latent[None]), reference["delta_s"]):
        np.testing.assert_allclose(ours.numpy(), base + 5.0 * delta[None], atol=1e-4)
    with Image.open(tmp_path / "out" / "face_psp_input.edited.png") as pasted:
        assert pasted.size == Image.open(PORTRAIT).size
    with raises_user_error("either --latent or --input_image"):
        edit_main(edit_argv(files, tmp_path / "out2", "--input_image", PORTRAIT, "--latent", files["latents.npy"],
                            "--target", TARGET))
    monkeypatch.undo()
    monkeypatch.setattr(inversion.PspEncoder, "encode", lambda self, image: np.zeros((10, 512)))
    with raises_user_error(r"^pSp file \S*psp.pdparams gives W\+ \[10, 512\] but .*generator.pdparams takes "
                           r"\[8, 512\]; pass a pSp model made for this generator with --psp_weight_path"):
        edit_main(edit_argv(files, tmp_path / "out3", "--input_image", PORTRAIT, "--psp_weight_path", str(psp_path),
                            "--target", TARGET))
    assert not (tmp_path / "out3").exists()


def test_subcommands(files, tmp_path, monkeypatch):
    with pytest.raises(UserError, match="empty text"):
        main(["edit", *edit_argv(files, tmp_path / "out", "--target", " ")])
    calls = []
    monkeypatch.setitem(sys.modules, "ppgan.cli.extract", types.SimpleNamespace(main=calls.append))
    main(["extract", "--merge", "--output", "fs3.pdparams"])
    assert calls == [["--merge", "--output", "fs3.pdparams"]]
    with pytest.raises(SystemExit):
        main(["explode"])


# ---- strength sweep (issue 24, part 2) -------------------------------------------------------------

def test_sweep_strengths_go_up_and_back_without_repeating_an_end():
    assert sweep_strengths((-2.0, 0.0, 4.0), 6) == (-2.0, 0.0, 2.0, 4.0, 2.0, 0.0)
    assert sweep_strengths((4.0, -2.0), 5) == (-2.0, 1.0, 4.0, 2.0, 0.0)  # up in 2 steps, down in 3
    assert sweep_strengths((-1.0, 2.5), 6) == (-1.0, 0.17, 1.33, 2.5, 1.33, 0.17)  # rounded to 0.01
    assert sweep_strengths((3.0,), 4) == (0.0, 1.5, 3.0, 1.5)  # one strength: from 0 to it
    assert sweep_strengths((1.0, 2.0), 2) == (1.0, 2.0)
    with raises_user_error(r"^--sweep needs two different strengths .* --direction_offset gives only 0; "):
        sweep_strengths((0.0,), 4)
    for frames, fps in ((1, 12), (1001, 12), (4, 0), (4, 61)):
        with raises_user_error("is out of range; pass an integer"):
            check_sweep(frames, fps)


def spy_on_sweep_writers(monkeypatch):
    """{path name: frames} of every sweep file written (the real files are written too)."""
    captured = {}
    for name in ("write_gif", "write_mp4"):
        write = getattr(sweep, name)
        monkeypatch.setattr(sweep, name, lambda path, frames, fps, write=write: (
            captured.__setitem__(os.path.basename(path), frames.copy()), write(path, frames, fps)))
    return captured


def test_sweep_frame_k_is_the_single_edit_at_its_strength(files, predictor, reference, tmp_path, monkeypatch):
    latent = np.load(files["latents.npy"])[0]
    captured = spy_on_sweep_writers(monkeypatch)
    predictor.output_path = str(tmp_path / "sweep")
    predictor.run(latent, NEUTRAL, TARGET, strengths=(-1, 2.5), beta_threshold=reference["beta"],
                  sweep=check_sweep(6, 10, labelled=False))
    assert listing(tmp_path / "sweep") == sorted(["src.editing.png", "dst.editing_-1.png", "dst.editing_2.5.png",
                                                   "dst.editing.png", STRIP_NAME, "dst.editing.pd",
                                                   "dst.editing_sweep.gif", "dst.editing_sweep.mp4"])
    frames = captured["dst.editing_sweep.gif"]
    np.testing.assert_array_equal(captured["dst.editing_sweep.mp4"], frames)
    assert frames.shape == (6, 32, 32, 3)
    for k, strength in enumerate((-1.0, 0.17, 1.33, 2.5, 1.33, 0.17)):  # the single edit's PNG, decoded
        predictor.output_path = str(tmp_path / f"single_{k}")
        predictor.run(latent, NEUTRAL, TARGET, strengths=strength, beta_threshold=reference["beta"])
        np.testing.assert_array_equal(frames[k], np.asarray(Image.open(tmp_path / f"single_{k}" / "dst.editing.png")),
                                      err_msg=f"frame {k}")

    with Image.open(tmp_path / "sweep" / "dst.editing_sweep.gif") as gif:
        assert (gif.n_frames, gif.info["loop"], gif.info["duration"]) == (6, 0, 100)
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "sweep" / "dst.editing_sweep.mp4"))
    meta = next(reader)
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p") and meta["size"] == (32, 32)
    assert meta["fps"] == 10 and len(list(reader)) == 6


def test_sweep_labels_are_small_and_in_a_corner():
    render = np.random.default_rng(3).integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    labelled = sweep_frames(render, (2.5, -1.0))
    changed = np.any(labelled != render, axis=-1)
    rows, cols = np.nonzero(changed[0])
    assert rows.min() > 256 * 3 // 4 and cols.max() < 256 // 4  # the bottom-left corner only
    assert changed[0].mean() < 0.03
    assert np.any(changed[0] != changed[1])  # '+2.5' and '-1' are drawn differently
    np.testing.assert_array_equal(sweep_frames(render, (2.5, -1.0), labelled=False), render)


def test_an_odd_sized_sweep_keeps_its_size_in_the_mp4(tmp_path):
    from ppgan.utils.video import probe_video, read_frames

    frames = np.random.default_rng(4).integers(0, 256, (3, 35, 33, 3), dtype=np.uint8)
    frames[:] = frames[:, :1, :1]  # flat frames: the codec's error stays small
    sweep.write_mp4(str(tmp_path / "odd.mp4"), frames, 12)
    info = probe_video(str(tmp_path / "odd.mp4"))
    assert (info.size, info.frame_count, info.codec) == ((33, 35), 3, "h264")
    decoded = np.stack(list(read_frames(info)))
    assert decoded.shape == frames.shape and np.abs(decoded.astype(int) - frames).max() <= 3


def test_sweep_of_a_photo_writes_the_pasted_photo_frames(files, reference, tmp_path, monkeypatch, capsys):
    from ppgan.inversion import photo as inversion

    latent = np.load(files["latents.npy"])[1]
    monkeypatch.setattr(inversion.PhotoInverter, "encode", lambda inverter, faces: latent[None])
    psp_path = tmp_path / "psp.pdparams"
    psp_path.write_bytes(b"")  # never read: the encoding is faked
    captured = spy_on_sweep_writers(monkeypatch)
    out = tmp_path / "out"
    edit_main(edit_argv(files, out, "--input_image", PORTRAIT, "--psp_weight_path", str(psp_path), "--neutral",
                        NEUTRAL, "--target", TARGET, "--beta_threshold", str(reference["beta"]),
                        "--direction_offset", "-1", "2", "--sweep", "4", "--no_sweep_label"))
    assert {"face_psp_input.edited_sweep.gif", "face_psp_input.edited_sweep.mp4", "dst.editing_sweep.gif",
            "dst.editing_sweep.mp4"} <= set(os.listdir(out))
    photos = captured["face_psp_input.edited_sweep.gif"]  # strengths -1, 0.5, 2, 0.5
    assert photos.shape == (4, 600, 482, 3)
    np.testing.assert_array_equal(photos[0], np.asarray(Image.open(out / "face_psp_input.edited_-1.png")))
    np.testing.assert_array_equal(photos[2], np.asarray(Image.open(out / "face_psp_input.edited_2.png")))
    np.testing.assert_array_equal(photos[1], photos[3])
    np.testing.assert_array_equal(captured["dst.editing_sweep.gif"][2], np.asarray(Image.open(out / "dst.editing_2.png")))


# ---- composed edits (issue 24, part 3) -------------------------------------------------------------

GLASSES = "face with glasses"


def test_composition_is_the_sum_of_the_single_edits(files, predictor, reference, tmp_path, capsys):
    latent = np.load(files["latents.npy"])[0]
    np.save(tmp_path / "face.npy", latent)
    single = {}
    for target, strength, beta in ((TARGET, 2.5, reference["beta"]), (GLASSES, -1.5, 0.05)):
        predictor.output_path = str(tmp_path / target)
        result = predictor.run(latent, NEUTRAL, target, strengths=strength, beta_threshold=beta)
        edited = paddle.load(str(tmp_path / target / "dst.editing.pd"))
        single[target] = [s.numpy() for s in edited], result.direction
    source = styles_of(predictor, latent[None])

    (tmp_path / "recipe.txt").write_text(f"# the smile first\n{TARGET} = 2.5\n\n")
    out = tmp_path / "composed"
    edit_main(edit_argv(files, out, "--latent", str(tmp_path / "face.npy"), "--beta_threshold", str(reference["beta"]),
                        "--recipe", str(tmp_path / "recipe.txt"), "--edit", f"{NEUTRAL} -> {GLASSES} = -1.5 @ 0.05"))
    name = "face-with-a-big-smile_2.5+face-with-glasses_-1.5"
    assert listing(out) == sorted(["src.editing.png", f"dst.editing_{name}.png", "dst.editing.png", STRIP_NAME,
                                   "dst.editing.pd"])
    composed = [s.numpy() for s in paddle.load(str(out / "dst.editing.pd"))]
    for layer, (ours, base) in enumerate(zip(composed, source)):
        expected = base + sum(edited[layer] - base for edited, _ in single.values())
        np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6, err_msg=f"layer {layer}")

    moved = [np.concatenate([d != 0 for d in direction.delta_s]) for _, direction in single.values()]
    shared = int(np.count_nonzero(moved[0] & moved[1]))
    assert shared > 0
    lines = capsys.readouterr().out.splitlines()
    assert f"{shared} style channels are moved by more than one edit: '{TARGET}' & '{GLASSES}' {shared}" in lines
    assert sum("style channels (max |r|" in line for line in lines) == 2


@pytest.mark.parametrize("spec, message", [
    ("smiling face", r"^--edit 'smiling face' has no strength; write TARGET = STRENGTH or NEUTRAL -> TARGET"),
    ("smiling face = big", "has strength 'big', not a number"),
    ("smiling face = 0", "has strength 0; give a number from -100 to 100, not 0"),
    ("smiling face = 300", "has strength 300; give"),
    ("a -> b -> c = 1", "has more than one '->'"),
    ("face -> = 1", "has an empty text"),
    ("smiling face = 1 @ high", "has beta 'high'; give a number >= 0 or auto"),
])
def test_bad_edit_specs_are_one_line_errors(files, tmp_path, monkeypatch, spec, message):
    monkeypatch.setattr(edit_command, "StyleGANv2ClipPredictor", None)  # would fail if it were reached
    with raises_user_error(message):
        edit_main(edit_argv(files, tmp_path / "out", "--edit", spec))
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize("extra, message", [
    (["--edit", "old face=2", "--target", "old face"], "without --target and --direction_offset"),
    (["--edit", "old face=2", "--direction_offset", "2"], "without --target and --direction_offset"),
    (["--edit", "old face=2", "--sweep", "4"], "^--sweep sweeps the strengths of one --target edit"),
    (["--edit", "face=2"], "^edit 'face -> face = 2 @ 0.12': neutral and target descriptions are both 'face'"),
    ([], "^pass the edit with --target"),
    (["--target", "old face", "--sweep", "1"], "^--sweep 1 is out of range"),
    (["--target", "old face", "--sweep", "4", "--direction_offset", "0"], "^--sweep needs two different strengths"),
    (["--recipe", "absent.txt"], "^--recipe absent.txt does not exist"),
])
def test_composition_and_sweep_flags_fail_before_any_model_loads(files, tmp_path, monkeypatch, extra, message):
    monkeypatch.setattr(edit_command, "StyleGANv2ClipPredictor", None)
    monkeypatch.chdir(tmp_path)
    with raises_user_error(message):
        edit_main(edit_argv(files, tmp_path / "out", *extra))
    assert not os.path.exists(tmp_path / "out")


def test_edit_text_reads_back_as_the_same_edit():
    for spec in (EditSpec("face", "smiling face", 3.0, 0.12), EditSpec("face with hair", "blond", -0.1, "auto"),
                 EditSpec("face", "old face", 1 / 3, 0.05)):
        assert parse_edit(edit_text(spec), "other", 0.3) == spec
    assert parse_edit("smiling face=3", "face", 0.2) == EditSpec("face", "smiling face", 3.0, 0.2)
    assert len(composition_name([EditSpec("face", "a very long description " * 9, 1.0, 0.1)])) == 80


def test_composed_edits_of_a_photo_are_written_like_one_edit(files, reference, tmp_path, monkeypatch):
    from ppgan.inversion import photo as inversion

    latent = np.load(files["latents.npy"])[1]
    monkeypatch.setattr(inversion.PhotoInverter, "encode", lambda inverter, faces: latent[None])
    psp_path = tmp_path / "psp.pdparams"
    psp_path.write_bytes(b"")  # never read: the encoding is faked
    out = tmp_path / "out"
    edit_main(edit_argv(files, out, "--input_image", PORTRAIT, "--psp_weight_path", str(psp_path), "--beta_threshold",
                        str(reference["beta"]), "--edit", f"{TARGET}=2", "--edit", f"{GLASSES} = 1 @ 0.05"))
    name = "face-with-a-big-smile_2+face-with-glasses_1"
    assert {f"face_psp_input.edited_{name}.png", "face_psp_input.edited.png", f"dst.editing_{name}.png",
            "dst.editing.pd"} <= set(os.listdir(out))
    predictor = make_predictor(files)
    smile = predictor.style_direction(predictor.text_direction.delta_t(NEUTRAL, TARGET), reference["beta"]).delta_s
    glasses = predictor.style_direction(predictor.text_direction.delta_t(NEUTRAL, GLASSES), 0.05).delta_s
    edited = paddle.load(str(out / "dst.editing.pd"))
    for ours, base, one, other in zip(edited, styles_of(predictor, latent[None]), smile, glasses):
        np.testing.assert_allclose(ours.numpy(), base + 2 * one[None] + other[None], rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "face_psp_input.edited.png")),
                                  np.asarray(Image.open(out / f"face_psp_input.edited_{name}.png")))

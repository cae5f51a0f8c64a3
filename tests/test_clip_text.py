"""CLIP encoder (random ViT-B/32), tensor-side preprocessing against PIL, prompt templates, delta_t."""
import json
import os
import zlib

import numpy as np
import pytest

from conftest import raises_user_error

import clip
import paddle
from PIL import Image

from ppgan.styleclip.clip import ClipEncoder, clip_preprocess, pil_preprocess, preprocess
from ppgan.styleclip.clip.encoder import (ImageTower, ImageTowerGraph, load_clip_weights, save_random_clip_weights,
                                         state_dict_problems)
from ppgan.styleclip.edit import check_texts
from ppgan.styleclip.text import TextDirection, delta_t, load_templates, text_features
from ppgan.utils.errors import UserError
from ppgan.utils.image import to_uint8

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO_ROOT, "tests", "fixtures")


@pytest.fixture(scope="module")
def encoder():
    paddle.seed(0)
    return ClipEncoder(random_init=True)


@pytest.fixture(scope="module")
def face_uint8():
    return np.asarray(Image.open(os.path.join(FIXTURES, "ffhq_e4e_0.jpg")).convert("RGB"))


def as_generator_output(image_uint8):
    """uint8 [H,W,3] -> [1,3,H,W] in [-1,1], which quantises back to the same levels."""
    return as_generator_output_batch(image_uint8[None])


def as_generator_output_batch(images_uint8):
    """uint8 [N,H,W,3] -> [N,3,H,W] in [-1,1], which quantises back to the same levels."""
    return paddle.to_tensor(images_uint8.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0)


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


class CountingTextEncoder:
    """Stand-in text encoder: a fixed random vector per prompt; records every call."""

    def __init__(self):
        self.calls = []

    def encode_text(self, texts):
        self.calls.append(list(texts))
        return np.stack([np.random.default_rng(zlib.crc32(text.encode())).standard_normal(512) for text in texts])


# ---- text encoding -------------------------------------------------------------------------------

def test_encode_text_matches_paddleclip_full_context(encoder):
    prompts = ["face", "a photo of a smiling face with curly red hair.", "word " * 60]
    ours = encoder.encode_text(prompts).numpy()
    with paddle.no_grad():
        reference = encoder.model.encode_text(clip.tokenize(prompts)).numpy()
    assert ours.shape == (3, 512)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-4 * np.abs(reference).max())


def test_text_features_and_delta_t_match_numpy(encoder):
    templates = load_templates("paddlegan")[:6]
    texts = ["face", "face with blue eyes"]
    with paddle.no_grad():
        per_prompt = {text: np.stack([encoder.model.encode_text(clip.tokenize([t.format(text)])).numpy()[0]
                                      for t in templates]) for text in texts}
    expected = {text: unit(unit(per_prompt[text]).mean(axis=0)) for text in texts}
    expected_dt = unit(expected["face with blue eyes"] - expected["face"])

    features = text_features(encoder, texts, templates)
    np.testing.assert_allclose(features[0], expected["face"], atol=1e-5)
    np.testing.assert_allclose(features[1], expected["face with blue eyes"], atol=1e-5)
    np.testing.assert_allclose(delta_t(features[0], features[1]), expected_dt, atol=1e-4)
    assert np.linalg.norm(expected_dt - unit(features[1])) > 0.1  # delta_t is not just the target feature


def test_too_long_text_names_it_and_says_shorten(encoder):
    text = "a very " * 40 + "long face"
    with pytest.raises(UserError, match="shorten") as info:
        encoder.encode_text(["face", text])
    assert "a very a very" in str(info.value)


def test_empty_text_is_a_user_error():
    for neutral, target in (("face", "  "), ("", "smiling face")):
        with pytest.raises(UserError, match="empty text description"):
            check_texts(neutral, target)


def test_equal_descriptions_are_user_errors(encoder):
    with pytest.raises(UserError, match="both 'face'"):
        check_texts("face", " face")
    features = text_features(encoder, ["Face", "face"], load_templates("paddlegan")[:2])  # CLIP lowercases
    with pytest.raises(UserError, match="same CLIP text feature"):
        delta_t(features[0], features[1])


# ---- image tower -----------------------------------------------------------------------------------

def test_image_tower_graph_is_the_visual_tower(encoder):
    pixels = paddle.to_tensor(np.random.default_rng(1).standard_normal((2, 3, 224, 224)).astype(np.float32))
    with paddle.no_grad():
        reference = encoder.model.visual(pixels).numpy()
        ours = ImageTowerGraph(encoder.model.visual)(pixels).numpy()
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5 * np.abs(reference).max())


def test_compiled_image_tower_matches_eager(encoder, monkeypatch):
    monkeypatch.delenv("PPGAN_SYNTHESIS", raising=False)  # the CPU default, also in the eager CI run
    pixels = paddle.to_tensor(np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32))
    with paddle.no_grad():
        reference = encoder.model.visual(pixels).numpy()
    tower = encoder.image_tower
    assert not tower.eager and tower is encoder.image_tower
    ours = tower(pixels).numpy()
    assert ours.shape == (3, 512)
    assert (unit(ours) * unit(reference)).sum(axis=-1).min() >= 0.99999
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5 * np.abs(reference).max())
    assert tower.visual is None  # the program holds the weights
    assert tower.weights_digest == ImageTower(encoder.model.visual, eager=True).weights_digest

    compiled_dir = os.path.join(os.environ["PPGAN_HOME"], "compiled")
    exports = sorted(os.listdir(compiled_dir))
    np.testing.assert_array_equal(ImageTower(encoder.model.visual)(pixels).numpy(), ours)  # cached export reused
    assert sorted(os.listdir(compiled_dir)) == exports

    monkeypatch.setenv("PPGAN_SYNTHESIS", "eager")
    eager = ImageTower(encoder.model.visual)
    assert eager.eager
    np.testing.assert_array_equal(eager(pixels).numpy(), reference)


# ---- templates and the cached text direction -----------------------------------------------------

def test_template_sets_come_from_package_data():
    shared = json.load(open(os.path.join(FIXTURES, "prompt_templates.json")))
    paddlegan, official = load_templates("paddlegan"), load_templates("official")
    assert (len(paddlegan), len(official)) == (46, 79)
    assert list(paddlegan) == shared["paddlegan"] and list(official) == shared["official"]
    assert set(paddlegan) <= set(official) and "a photo of many {}." not in official
    assert all(template.count("{}") == 1 for template in official)
    with pytest.raises(UserError, match="paddlegan, official"):
        load_templates("imagenet")


def test_text_direction_caches_and_batches():
    fake = CountingTextEncoder()
    directions = TextDirection(fake)
    first = directions.delta_t("face", "smiling face")
    assert len(fake.calls) == 1 and len(fake.calls[0]) == 2 * 46  # neutral and target in one batch
    np.testing.assert_array_equal(directions.delta_t("face", "smiling face"), first)
    assert len(fake.calls) == 1  # nothing re-encoded

    directions.delta_t("face", "old face")
    assert len(fake.calls) == 2 and fake.calls[1] == [t.format("old face") for t in load_templates("paddlegan")]
    directions.delta_t("face", "old face", templates="official")
    assert len(fake.calls) == 3 and len(fake.calls[2]) == 2 * 79  # the cache key includes the template set

    templates = load_templates("paddlegan")
    neutral = unit(unit(fake.encode_text([t.format("face") for t in templates])).mean(axis=0))
    target = unit(unit(fake.encode_text([t.format("smiling face") for t in templates])).mean(axis=0))
    np.testing.assert_allclose(first, unit(target - neutral), atol=1e-6)


# ---- image preprocessing -------------------------------------------------------------------------

def test_tensor_preprocessing_equals_pil_on_a_real_face(encoder, face_uint8):
    images = as_generator_output(face_uint8)
    reference = pil_preprocess(face_uint8)
    ours = clip_preprocess(images).numpy()[0]
    assert ours.shape == (3, 224, 224)
    np.testing.assert_array_equal(ours, reference)

    with paddle.no_grad():
        reference_embedding = encoder.model.encode_image(paddle.to_tensor(reference[None])).numpy()[0]
    embedding = encoder.encode_images(images).numpy()[0]
    assert float(unit(embedding) @ unit(reference_embedding)) >= 0.99999


@pytest.mark.parametrize("height, width", [(300, 500), (512, 384), (128, 160), (224, 224), (1024, 768), (97, 301)])
def test_tensor_preprocessing_equals_pil_on_any_shape(height, width):
    image = np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    ours = clip_preprocess(as_generator_output(image)).numpy()[0]
    np.testing.assert_array_equal(ours, pil_preprocess(image))


def adversarial_images(size):
    """uint8 [N, size, size, 3]: constant 255 and 0, checkerboards, stripes, binary and uniform noise, ramps."""
    rng = np.random.default_rng(size)
    y, x = np.mgrid[:size, :size]
    planes = [np.full((size, size), 255), np.zeros((size, size)), 255 * ((x + y) % 2), 255 * ((x // 2 + y // 2) % 2),
              255 * (x % 2), 255 * (y % 2), 255 * (x % 3 == 0), 255 * rng.integers(0, 2, (size, size)),
              rng.integers(0, 256, (size, size)), (x * 255) // (size - 1), 255 - 255 * ((x < 9) | (y >= size - 9))]
    planes = [p.astype(np.uint8) for p in planes]
    images = [np.stack([p, p, p], axis=-1) for p in planes]  # same pattern in every channel
    images += [np.stack([planes[i], planes[(i + 3) % len(planes)], planes[(i + 7) % len(planes)]], axis=-1)
               for i in range(len(planes))]  # mixed patterns
    return np.stack(images)


@pytest.mark.parametrize("size", [1024, 256])
def test_tensor_preprocessing_is_pil_on_adversarial_images(size):
    """Bit for bit on the extremes of the float32-exactness bounds (all 255), sign changes (checkerboards), noise."""
    images = adversarial_images(size)
    for start in range(0, len(images), 8):
        batch = images[start:start + 8]
        ours = clip_preprocess(as_generator_output_batch(batch)).numpy()
        np.testing.assert_array_equal(ours, np.stack([pil_preprocess(image) for image in batch]))
        levels = preprocess.resample(paddle.to_tensor(batch.transpose(0, 3, 1, 2).reshape(-1, size, size)
                                                        .astype(np.float32))).numpy()
        pil_levels = np.stack([np.asarray(Image.fromarray(image).resize((224, 224), Image.BICUBIC)) for image in batch])
        np.testing.assert_array_equal(levels.reshape(-1, 3, 224, 224), pil_levels.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("in_size, out_size",
                         [(1024, 224), (2048, 224), (256, 224), (128, 224), (500, 373), (224, 224)])
def test_split_coefficients_are_float32_exact(in_size, out_size):
    matrix = preprocess.pil_bicubic_matrix(in_size, out_size)
    hi, lo, k = preprocess.split_coefficients(matrix)
    np.testing.assert_array_equal(hi.astype(np.int64) * 2 ** k + lo.astype(np.int64), matrix)
    assert 255 * np.abs(hi).sum(axis=1).max() < 2 ** 24
    assert 255 * np.abs(lo).sum(axis=1).max() + 2 ** 21 < 2 ** 24
    if np.abs(matrix).max() < 2 ** 22:  # downsampling: both parts also fit TF32's 11 significant bits
        assert np.abs(hi).max() <= 2048 and np.abs(lo).max() <= 1024
    # all-255 rows reach the largest sums; the float32 products are then still exact
    product = (paddle.full([1, in_size], 255.0) @ paddle.to_tensor(hi).T).numpy()
    np.testing.assert_array_equal(product.astype(np.int64), 255 * hi.astype(np.int64).sum(axis=1)[None])


def test_quantisation_matches_to_uint8():
    """quantize_to_levels (tensor side) and to_uint8 (PIL side) agree, also at rounding ties and beyond [-1, 1]."""
    ties = (np.arange(256, dtype=np.float32) + 0.5) / np.float32(127.5) - 1
    values = np.concatenate([ties, np.nextafter(ties, -2), np.nextafter(ties, 2), np.linspace(-1.2, 1.2, 4001),
                             [-1.0, 1.0, np.nextafter(-1, -2), np.nextafter(1, 2), 0.0, -0.0]]).astype(np.float32)
    images = paddle.to_tensor(np.concatenate([values] * 3).reshape(1, 3, 1, -1))
    levels = preprocess.quantize_to_levels(images).numpy()
    np.testing.assert_array_equal(levels[0].transpose(1, 2, 0), to_uint8(images)[0].astype(np.float32))


def test_quantisation_clamps_and_rounds():
    images = paddle.to_tensor(np.array([-1.5, -1.0, -0.999, 0.0, 0.5, 1.0, 2.0], np.float32).reshape(1, 1, 1, 7))
    levels = to_uint8(paddle.concat([images] * 3, axis=1))[0, 0, :, 0]
    assert levels.tolist() == [0, 0, 0, 128, 191, 255, 255]


# ---- weights -------------------------------------------------------------------------------------

def test_state_dict_problems_name_missing_and_misshaped_keys(encoder):
    state = dict(encoder.model.state_dict())
    del state["text_projection"]
    state["visual.proj"] = np.zeros((512, 768), np.float32)
    problems = state_dict_problems(encoder.model, state)
    assert problems == ["missing text_projection", "visual.proj has shape [512, 768], expected [768, 512]"]


def test_loading_a_wrong_file_is_a_user_error(encoder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / "partial.pdparams")
    paddle.save({"positional_embedding": paddle.zeros([77, 512])}, path)
    with pytest.raises(UserError, match="missing text_projection") as info:
        load_clip_weights(encoder.model, path)
    assert "--clip_weight_path" in info.value.as_flags() and "more" in str(info.value)
    with raises_user_error("--clip_weight_path"):
        ClipEncoder(weight_path=str(tmp_path / "absent.pdparams"))
    assert not os.path.exists(tmp_path / "pretrained_models")


@pytest.mark.slow
def test_random_weight_file_round_trip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / "clip-random.pdparams")
    save_random_clip_weights(path, seed=3)
    saved = paddle.load(path)
    loaded = ClipEncoder(weight_path=path)
    for key in ("visual.proj", "text_projection", "transformer.resblocks.11.mlp.c_proj.weight"):
        np.testing.assert_array_equal(loaded.model.state_dict()[key].numpy(), np.asarray(saved[key]))
    assert os.listdir(tmp_path) == ["clip-random.pdparams"]

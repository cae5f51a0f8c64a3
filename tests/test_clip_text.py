"""CLIP encoder (random ViT-B/32), tensor-side preprocessing against PIL, prompt templates, delta_t."""
import json
import os
import zlib

import numpy as np
import pytest

import ppgan  # noqa: F401  (before paddle, as everywhere)
import clip
import paddle
from PIL import Image

from ppgan.styleclip import clip_encoder
from ppgan.styleclip.clip_encoder import (CLIP_STD, ClipEncoder, clip_preprocess, pil_preprocess,
                                          save_random_clip_weights, state_dict_problems)
from ppgan.styleclip.text import TextDirection, delta_t, load_templates, text_features
from ppgan.utils.errors import UserError
from ppgan.utils.image import to_uint8

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO_ROOT, "..", "shared", "fixtures")
ONE_LEVEL = 1.0 / 255.0 / min(CLIP_STD)  # one uint8 level in CLIP-normalized units (0.0150)


@pytest.fixture(scope="module")
def encoder():
    paddle.seed(0)
    return ClipEncoder(random_init=True)


@pytest.fixture(scope="module")
def face_uint8():
    return np.asarray(Image.open(os.path.join(FIXTURES, "ffhq_e4e_0.jpg")).convert("RGB"))


def as_generator_output(image_uint8):
    """uint8 [H,W,3] -> [1,3,H,W] in [-1,1], which quantises back to the same levels."""
    return paddle.to_tensor(image_uint8.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1.0)


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


def test_empty_text_is_a_user_error(encoder):
    with pytest.raises(UserError, match="empty"):
        encoder.encode_text(["face", "  "])
    with pytest.raises(UserError, match="empty"):
        TextDirection(CountingTextEncoder()).delta_t("", "smiling face")


def test_equal_descriptions_are_user_errors(encoder):
    with pytest.raises(UserError, match="both 'face'"):
        TextDirection(CountingTextEncoder()).delta_t("face", " face")
    features = text_features(encoder, ["Face", "face"], load_templates("paddlegan")[:2])  # CLIP lowercases
    with pytest.raises(UserError, match="same CLIP text feature"):
        delta_t(features[0], features[1])


# ---- templates and the cached text direction -----------------------------------------------------

def test_template_sets_come_from_package_data():
    shared = json.load(open(os.path.join(REPO_ROOT, "..", "shared", "prompt_templates.json")))
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
    """float64 (default): identical to PIL; float32: at most one uint8 level on under 0.5% of values."""
    images = as_generator_output(face_uint8)
    reference = pil_preprocess(face_uint8)
    exact = clip_preprocess(images).numpy()[0]
    assert exact.shape == (3, 224, 224)
    np.testing.assert_allclose(exact, reference, rtol=0, atol=1e-6)

    fast = clip_preprocess(images, dtype="float32").numpy()[0]
    difference = np.abs(fast - reference)
    assert difference.max() <= ONE_LEVEL * 1.01
    assert np.mean(difference > ONE_LEVEL / 2) < 0.005

    with paddle.no_grad():
        reference_embedding = encoder.model.encode_image(paddle.to_tensor(reference[None])).numpy()[0]
    embedding = encoder.encode_images(images).numpy()[0]
    assert float(unit(embedding) @ unit(reference_embedding)) >= 0.9999


@pytest.mark.parametrize("height, width", [(300, 500), (512, 384), (128, 160), (224, 224)])
def test_tensor_preprocessing_equals_pil_on_any_shape(height, width):
    image = np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    ours = clip_preprocess(as_generator_output(image)).numpy()[0]
    np.testing.assert_allclose(ours, pil_preprocess(image), rtol=0, atol=1e-6)


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
        clip_encoder.load_clip_weights(encoder.model, path)
    assert "--clip_weight_path" in str(info.value) and "more" in str(info.value)
    with pytest.raises(UserError, match="--clip_weight_path"):
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

"""PaddleGAN's Python API: the predictors imported, built and run exactly as PaddleGAN's tools and tutorials do.

The calls below are those of PaddleGAN's applications/tools/styleganv2.py, pixel2style2pixel.py and
styleganv2clip.py (keyword names, positional ``run`` arguments), chained as its StyleCLIP tutorial
chains them: a photo -> pSp -> dst.npy -> text edit. Random 32 px models; the CLIP weights sit in
the weight cache under the released name, so no call needs one of our extra keywords.
"""
import os

import numpy as np
import pytest
from PIL import Image

import paddle

from conftest import FIXTURES

PORTRAIT = os.path.join(FIXTURES, "face_psp_input.jpg")
GENERATOR_KWARGS = dict(size=32, style_dim=512, n_mlp=2, channel_multiplier=2)  # as PaddleGAN's flags pass them
N_LATENT = 8


@pytest.fixture
def paddlegan_env(config_f_32px_files, random_clip_file, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    os.symlink(random_clip_file, home / "ViT-B-32.pdparams")
    monkeypatch.setenv("PPGAN_HOME", str(home))
    monkeypatch.setenv("PPGAN_SYNTHESIS", "eager")  # the compiled path has its own tests
    return config_f_32px_files


def test_the_three_predictors_import_from_ppgan_apps():
    import ppgan.apps
    from ppgan.apps import Pixel2Style2PixelPredictor, StyleGANv2ClipPredictor, StyleGANv2Predictor

    assert issubclass(StyleGANv2ClipPredictor, StyleGANv2Predictor)
    assert Pixel2Style2PixelPredictor.__module__ == "ppgan.apps.pixel2style2pixel_predictor"
    assert set(ppgan.apps.__all__) <= set(dir(ppgan.apps))
    with pytest.raises(AttributeError):
        ppgan.apps.NoSuchPredictor


def test_sampling_as_paddlegans_styleganv2_tool(paddlegan_env, tmp_path):
    from ppgan.apps import StyleGANv2Predictor

    predictor = StyleGANv2Predictor(output_path=str(tmp_path), weight_path=str(paddlegan_env / "generator.pdparams"),
                                    model_type=None, seed=233, **GENERATOR_KWARGS)
    predictor.run(2, 3)  # n_row, n_col
    assert Image.open(tmp_path / "sample.png").size == (3 * 32, 2 * 32)
    latents = np.load(tmp_path / "latents.npy")
    assert latents.shape == (6, N_LATENT, 512)
    np.testing.assert_array_equal(latents, predictor.sample_latents(6, 0.7, seed=233).numpy())


def test_photo_to_edit_as_paddlegans_tutorial(paddlegan_env, random_psp_file, tmp_path):
    from ppgan.apps import Pixel2Style2PixelPredictor, StyleGANv2ClipPredictor

    psp_out, edit_out = tmp_path / "psp", tmp_path / "edit"
    # PaddleGAN's arguments, but not channel_multiplier: the small pSp's decoder has narrow widths, not config-f's
    psp = Pixel2Style2PixelPredictor(output_path=str(psp_out), weight_path=random_psp_file, model_type=None,
                                     seed=None, size=32, style_dim=512, n_mlp=2)
    psp.run(PORTRAIT)
    assert sorted(os.listdir(psp_out)) == ["dst.npy", "dst.png", "src.png"]
    latent_path = str(psp_out / "dst.npy")
    assert np.load(latent_path).shape == (N_LATENT, 512)

    editor = StyleGANv2ClipPredictor(output_path=str(edit_out), weight_path=str(paddlegan_env / "generator.pdparams"),
                                     model_type=None, seed=None, direction_path=str(paddlegan_env / "fs3.pdparams"),
                                     stat_path=None, **GENERATOR_KWARGS)
    # PaddleGAN's tool: predictor.run(args.latent, args.neutral, args.target, args.direction_offset, args.beta_threshold)
    src_img, dst_img, dst_latent = editor.run(latent_path, "face", "smiling face", 5.0, 0.1)
    files = sorted(os.listdir(edit_out))
    assert files == ["dst.editing.pd", "dst.editing.png", "dst.editing_5.png", "dst.editing_strip.png",
                     "src.editing.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(edit_out / "src.editing.png")), src_img)
    np.testing.assert_array_equal(np.asarray(Image.open(edit_out / "dst.editing.png")), dst_img)
    assert src_img.shape == (32, 32, 3) and not np.array_equal(src_img, dst_img)

    # the edited S: the source's S plus 5 x delta_s, as saved in dst.editing.pd
    with paddle.no_grad():
        source = [s.numpy() for s in editor.generator.style_affine(paddle.to_tensor(np.load(latent_path)[None]))]
    saved = paddle.load(str(edit_out / "dst.editing.pd"))
    moved = 0
    for ours, on_disk, base in zip(dst_latent, saved, source):
        np.testing.assert_array_equal(ours.numpy(), on_disk.numpy())
        moved += np.count_nonzero(np.abs(ours.numpy() - base) > 1e-6)

    # the keyword form of PaddleGAN's run gives the same result
    again = editor.run(latent=latent_path, neutral="face", target="smiling face", offset=5.0, beta_threshold=0.1)
    np.testing.assert_array_equal(again.dst_img, dst_img)
    assert moved == again.direction.moved > 0
    assert sorted(os.listdir(edit_out)) == files
    with pytest.raises(TypeError):
        editor.run(latent_path, "face", "smiling face", offset=5.0, strengths=[1, 2])

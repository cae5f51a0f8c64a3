"""Photo in, photo out: every face aligned, inverted with pSp, edited and pasted back (random small models)."""
import os

import numpy as np
import paddle
import pytest
from PIL import Image

from conftest import FIXTURES, listing, raises_user_error, two_face_photo

from ppgan.inversion import PhotoInverter
from ppgan.cli.edit import main as edit_main
from ppgan.faceutils import FaceAligner, load_rgb, paste_faces
from ppgan.models.generators import Pixel2Style2Pixel, StyleGANv2Generator
from ppgan.styleclip.clip import save_random_clip_weights

CHANNELS = {4: 32, 8: 32, 16: 16, 32: 8}
GENERATOR = dict(size=32, style_dim=512, n_mlp=2, channels=CHANNELS)
GENERATOR_FLAGS = ["--size", "32", "--style_dim", "512", "--n_mlp", "2", "--channels", "4:32,8:32,16:16,32:8", "--cpu"]
STYLE_CHANNELS = 168
N_LATENT = 8
OFFSETS = ["2", "5"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Random generator, CLIP and directions, and a folder with a portrait and a two-face photo."""
    root = tmp_path_factory.mktemp("photo_edit")
    paths = {name: str(root / name) for name in ("generator.pdparams", "clip.pdparams", "fs3.pdparams")}
    paths["psp.pdparams"] = str(root / "placeholder_psp.pdparams")  # only the slow test builds a real pSp
    open(paths["psp.pdparams"], "wb").close()  # the flag's file must exist; the fast tests fake the encoding
    paddle.seed(0)
    paddle.save(StyleGANv2Generator(**GENERATOR).state_dict(), paths["generator.pdparams"])
    save_random_clip_weights(paths["clip.pdparams"], seed=0)
    fs3 = np.random.default_rng(0).standard_normal((STYLE_CHANNELS, 512)).astype(np.float32)
    paddle.save(paddle.to_tensor(fs3 / np.linalg.norm(fs3, axis=1, keepdims=True)), paths["fs3.pdparams"])
    photos = root / "photos"
    photos.mkdir()
    load_rgb(os.path.join(FIXTURES, "face_psp_input.jpg")).save(photos / "portrait.jpg", quality=95)
    two_face_photo().save(photos / "group.png")
    paths["photos"] = str(photos)
    return paths


def edit_argv(files, out, *extra):
    return ["--weight_path", files["generator.pdparams"], *GENERATOR_FLAGS, "--direction_path", files["fs3.pdparams"],
            "--clip_weight_path", files["clip.pdparams"], "--psp_weight_path", files["psp.pdparams"],
            "--output_path", str(out), "--target", "smiling face", "--beta_threshold", "0.05",
            "--direction_offset", *OFFSETS, *extra]


@pytest.fixture
def fake_psp(monkeypatch):
    """pSp encoding replaced by random W+ (the pSp network itself is tested in test_psp.py)."""
    rng = np.random.default_rng(1)

    def encode(inverter, faces):
        return rng.standard_normal((len(faces), N_LATENT, 512)).astype(np.float32) * 0.5

    monkeypatch.setattr(PhotoInverter, "encode", encode)


@pytest.fixture(scope="module")
def psp_file(tmp_path_factory):
    """A random pSp made for the generator (W+ [8, 512])."""
    opts = dict(encoder_type="GradualStyleEncoder", input_nc=3, start_from_latent_avg=True, learn_in_w=False,
                **GENERATOR, channel_multiplier=2)
    paddle.seed(1)
    path = str(tmp_path_factory.mktemp("psp") / "psp.pdparams")
    paddle.save(dict(Pixel2Style2Pixel(opts).state_dict(), opts=opts), path)
    return path


def test_a_folder_of_photos_is_edited_and_pasted_back(files, fake_psp, tmp_path):
    check_folder_edit(files, tmp_path)


@pytest.mark.slow
def test_a_folder_of_photos_is_edited_and_pasted_back_with_psp(files, psp_file, tmp_path):
    check_folder_edit(dict(files, **{"psp.pdparams": psp_file}), tmp_path)


def check_folder_edit(files, tmp_path):
    out = tmp_path / "out"
    edit_main(edit_argv(files, out, "--input_image", files["photos"]))
    edit_files = ["dst.editing.pd", "dst.editing.png", "dst.editing_2.png", "dst.editing_5.png",
                  "dst.editing_strip.png", "src.editing.png"]
    assert listing(out) == sorted(
        ["group.edited.png", "group.edited_2.png", "group.edited_5.png",
         "portrait.edited.png", "portrait.edited_2.png", "portrait.edited_5.png"]
        + [f"group/face_{i}/{name}" for i in (0, 1) for name in edit_files]
        + [f"portrait/{name}" for name in edit_files])
    aligner = FaceAligner()
    for stem, ext, face_dirs in [("portrait", "jpg", ["portrait"]), ("group", "png", ["group/face_0", "group/face_1"])]:
        photo = load_rgb(os.path.join(files["photos"], f"{stem}.{ext}"))
        quads = [face.quad for face in aligner.align_faces(photo, 256)]
        assert len(quads) == len(face_dirs)
        for strength in OFFSETS:
            edited = np.asarray(Image.open(out / f"{stem}.edited_{strength}.png"))
            assert edited.shape == (photo.height, photo.width, 3)
            # the same as pasting the per-face renders written beside it (another code path, through the files)
            renders = [np.asarray(Image.open(out / folder / f"dst.editing_{strength}.png")) for folder in face_dirs]
            expected, mask = paste_faces(photo, renders, quads)
            np.testing.assert_array_equal(edited, expected)
            assert (mask == 0).any() and np.any(edited[mask > 0.5] != np.asarray(photo)[mask > 0.5])
        last = np.asarray(Image.open(out / f"{stem}.edited.png"))
        np.testing.assert_array_equal(last, np.asarray(Image.open(out / f"{stem}.edited_5.png")))


@pytest.mark.parametrize("case, message", [
    ("church", "no face found in .*no_face_church.jpg"),
    ("group", "has 2 faces, more than --max_faces 1"),
    ("tiny", "too small to align"),
])
def test_bad_photos_are_one_line_errors_and_nothing_is_written(files, tmp_path, case, message):
    photos = tmp_path / "photos"
    photos.mkdir()
    load_rgb(os.path.join(FIXTURES, "face_psp_input.jpg")).save(photos / "a_fine.jpg")  # aligned first, not written
    if case == "church":
        Image.open(os.path.join(FIXTURES, "no_face_church.jpg")).save(photos / "no_face_church.jpg")
    elif case == "group":
        two_face_photo().save(photos / "group.png")
    else:
        load_rgb(os.path.join(FIXTURES, "face_psp_input.jpg")).resize((60, 75)).save(photos / "tiny.png")
    out = tmp_path / "out"
    with raises_user_error(message):
        edit_main(edit_argv(files, out, "--input_image", str(photos), "--max_faces", "1"))
    assert listing(out) == []


def test_a_psp_for_another_generator_is_refused():
    class FakePsp:
        aligner = FaceAligner()

        @staticmethod
        def encode(image):
            return np.zeros((N_LATENT, 512), np.float32)

    inverter = PhotoInverter(latent_shape=(16, 512))  # the released pSp spec; never loaded here
    inverter.psp = FakePsp()
    faces = inverter.align(os.path.join(FIXTURES, "face_psp_input.jpg"))
    with raises_user_error(r"^pSp file the pSp-ffhq-inversion.pdparams release gives W\+ \[8, 512\] but the generator "
                           r"takes \[16, 512\]; .*--psp_weight_path"):
        inverter.encode(faces)
    inverter.latent_shape = (N_LATENT, 512)
    assert inverter(os.path.join(FIXTURES, "ffhq_e4e_0.jpg")).shape == (N_LATENT, 512)


def test_refine_steps_fit_every_face_after_psp(files, fake_psp, tmp_path, monkeypatch, capsys):
    from ppgan.inversion.fitting import LatentFitter

    calls = []
    fit = LatentFitter.fit

    def recording_fit(fitter, targets, initial, latent_level, steps, *args, **kwargs):
        calls.append((np.asarray(targets).shape, np.array(initial), list(latent_level), steps))
        return fit(fitter, targets, initial, latent_level, steps, *args, **kwargs)

    monkeypatch.setattr(LatentFitter, "fit", recording_fit)
    monkeypatch.setenv("PPGAN_MODEL_BASE_URL", (tmp_path / "no_mirror").as_uri())  # LPIPS files unavailable
    monkeypatch.setattr("ppgan.utils.download.BACKOFF", 0.0)
    photos = tmp_path / "photos"
    photos.mkdir()
    two_face_photo().save(photos / "group.png")
    out = tmp_path / "out"
    edit_main(edit_argv(files, out, "--input_image", str(photos / "group.png"), "--refine_steps", "2"))
    assert "note: fitting with MSE alone" in capsys.readouterr().err
    (shape, initial, rows, steps), = calls
    assert shape == (2, 3, 32, 32) and initial.shape == (2, N_LATENT, 512)
    assert rows == list(range(N_LATENT)) and steps == 2
    assert os.path.isfile(out / "group.edited.png") and os.path.isdir(out / "face_1")

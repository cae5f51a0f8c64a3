"""Face detection, landmarks, FFHQ alignment and the face_align tool, on real photos."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import raises_user_error
from PIL import Image

from ppgan.faceutils import FaceAligner, ffhq_quad, load_rgb, quad_to_output
from ppgan.faceutils import landmarks as landmarks_module
from ppgan.utils.errors import UserError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
FACES = ["face_psp_input.jpg", "face_input_img.jpg", "ffhq_e4e_0.jpg", "ffhq_e4e_1.jpg", "ffhq_e4e_2.jpg"]
PORTRAIT = os.path.join(FIXTURES, "face_psp_input.jpg")
CHURCH = os.path.join(FIXTURES, "no_face_church.jpg")


@pytest.fixture(scope="module")
def aligner():
    return FaceAligner()


@pytest.fixture(scope="module")
def portrait_landmarks(aligner):
    return aligner.detector.largest_face(load_rgb(PORTRAIT))[0]


def eye_centres(landmarks):
    """[2,2]: centres of the left and right eye (landmarks 36-41 and 42-47)."""
    return np.stack([landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)])


def synthetic_landmarks(eye_left, eye_right, mouth_left, mouth_right):
    lm = np.zeros((68, 2))
    lm[36:42], lm[42:48], lm[48], lm[54] = eye_left, eye_right, mouth_left, mouth_right
    return lm


def test_quad_of_an_upright_face():
    # eyes 100 px apart at y=200, mouth 120 px below their midpoint.
    lm = synthetic_landmarks((150, 200), (250, 200), (170, 320), (230, 320))
    quad = ffhq_quad(lm)
    # x = eye_to_eye scaled to max(2*100, 1.8*120) = 216; c = eye_avg + 0.1*eye_to_mouth = (200, 212).
    np.testing.assert_allclose(quad, [[-16, -4], [-16, 428], [416, 428], [416, -4]], atol=1e-9)


def test_quad_follows_a_rotated_face():
    lm = synthetic_landmarks((150, 200), (250, 200), (170, 320), (230, 320))
    angle = np.deg2rad(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    np.testing.assert_allclose(ffhq_quad(lm @ rot.T), ffhq_quad(lm) @ rot.T, atol=1e-9)


def test_quad_to_output_sends_corners_to_the_output_corners():
    quad = ffhq_quad(synthetic_landmarks((150, 200), (260, 190), (170, 320), (230, 330)))
    mapped = quad_to_output(quad, quad, 256)
    np.testing.assert_allclose(mapped, [[-0.5, -0.5], [-0.5, 255.5], [255.5, 255.5], [255.5, -0.5]], atol=1e-9)


@pytest.mark.parametrize("name", FACES)
def test_eyes_land_where_the_alignment_sends_them(aligner, name):
    result = aligner(os.path.join(FIXTURES, name), 1024)
    assert result.image.size == (1024, 1024) and result.image.mode == "RGB"
    assert result.face_count == 1
    expected = result.to_output(eye_centres(result.landmarks))
    found = eye_centres(aligner.detector.largest_face(result.image)[0])
    np.testing.assert_allclose(found, expected, atol=4.0)


def test_small_face_in_a_big_photo_is_cropped_and_shrunk(aligner):
    # the portrait at 3x inside a larger canvas: the quad (~1240 px) lies inside the photo,
    # so the warp takes the shrink (2x for 256 px output) and crop paths, without padding.
    portrait = load_rgb(PORTRAIT)
    canvas = Image.new("RGB", (2400, 2400), (90, 110, 130))
    canvas.paste(portrait.resize((portrait.width * 3, portrait.height * 3), Image.Resampling.LANCZOS), (700, 400))
    result = aligner(canvas, 256)
    expected = result.to_output(eye_centres(result.landmarks))
    found = eye_centres(aligner.detector.largest_face(result.image)[0])
    np.testing.assert_allclose(found, expected, atol=2.0)


def test_photo_without_a_face_is_a_user_error(aligner):
    with pytest.raises(UserError, match="no face found in .*no_face_church.jpg; use a photo"):
        aligner(CHURCH, 256)


def test_unreadable_or_missing_file_is_a_user_error(aligner, tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_text("not an image")
    with pytest.raises(UserError, match="notes.jpg"):
        aligner(str(fake))
    with pytest.raises(UserError, match="missing.jpg does not exist"):
        aligner(str(tmp_path / "missing.jpg"))


def test_missing_landmark_model_says_how_to_get_it(monkeypatch, tmp_path):
    with raises_user_error("--landmark_model"):
        FaceAligner(str(tmp_path / "nothing.dat"))
    monkeypatch.setattr(landmarks_module, "default_landmark_model", lambda: None)
    with pytest.raises(UserError, match="pip install face-recognition-models"):
        FaceAligner()


def test_exif_orientation_is_honoured(aligner, portrait_landmarks, tmp_path):
    upright = Image.open(PORTRAIT).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated 90 degrees counter-clockwise: viewers turn it back
    path = tmp_path / "rotated.jpg"
    upright.transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)
    assert load_rgb(str(path)).size == upright.size
    result = aligner(str(path), 256)
    np.testing.assert_allclose(result.landmarks, portrait_landmarks, atol=3.0)


def test_load_rgb_converts_modes():
    sixteen = Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16))
    assert sixteen.mode.startswith("I")
    np.testing.assert_array_equal(np.asarray(load_rgb(sixteen))[0, :, 0], [0, 128, 255])
    clear = Image.new("RGBA", (2, 2), (10, 20, 30, 0))
    np.testing.assert_array_equal(np.asarray(load_rgb(clear)), np.full((2, 2, 3), 255))
    palette = Image.new("RGB", (2, 2), (200, 100, 50)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert load_rgb(palette).mode == "RGB"
    assert tuple(np.asarray(load_rgb(palette))[0, 0]) == (200, 100, 50)


@pytest.mark.parametrize("mode", ["RGBA", "L", "I;16"])
def test_other_image_modes_align_like_rgb(aligner, portrait_landmarks, tmp_path, mode):
    rgb = Image.open(PORTRAIT).convert("RGB")
    if mode == "I;16":
        gray = np.asarray(rgb.convert("L"), dtype=np.uint16) * 257
        img = Image.fromarray(gray)
    elif mode == "RGBA":
        img = rgb.convert("RGBA")
        img.putalpha(Image.new("L", rgb.size, 255))
        img.paste((0, 0, 0, 0), (0, 0, 40, rgb.height))  # transparent strip: composited on white
    else:
        img = rgb.convert(mode)
    path = tmp_path / f"portrait_{mode.replace(';', '')}.png"
    img.save(path)
    result = aligner(str(path), 256)
    assert result.image.size == (256, 256) and result.image.mode == "RGB"
    np.testing.assert_allclose(result.landmarks, portrait_landmarks, atol=3.0)


def test_several_faces_align_the_largest(aligner, portrait_landmarks):
    portrait = load_rgb(PORTRAIT)
    small = portrait.resize((portrait.width * 2 // 3, portrait.height * 2 // 3), Image.Resampling.LANCZOS)
    group = Image.new("RGB", (portrait.width + small.width, portrait.height), (128, 128, 128))
    group.paste(small, (0, 0))
    group.paste(portrait, (small.width, 0))
    result = aligner(group, 256)
    assert result.face_count == 2
    np.testing.assert_allclose(result.landmarks - [small.width, 0], portrait_landmarks, atol=3.0)


def test_cli_aligns_a_folder_and_reports_the_failure(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("face_psp_input.jpg", "ffhq_e4e_0.jpg", "no_face_church.jpg"):
        (photos / name).write_bytes(open(os.path.join(FIXTURES, name), "rb").read())
    (photos / "readme.txt").write_text("ignored")
    out = tmp_path / "aligned"
    proc = subprocess.run([sys.executable, os.path.join("applications", "tools", "face_align.py"),
                           "--input_image", str(photos), "--output_path", str(out), "--size", "256"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "no face found in" in proc.stderr and "no_face_church.jpg" in proc.stderr
    assert sorted(os.listdir(out)) == ["face_psp_input_aligned.json", "face_psp_input_aligned.png",
                                       "ffhq_e4e_0_aligned.json", "ffhq_e4e_0_aligned.png"]
    for name in ("face_psp_input_aligned.png", "ffhq_e4e_0_aligned.png"):
        with Image.open(out / name) as img:
            assert img.size == (256, 256) and img.mode == "RGB"


def test_what_a_photo_loses_on_loading_is_said_in_one_line_each(tmp_path, capsys):
    rgb = np.full((8, 8, 3), 200, np.uint8)
    rgba = np.dstack([rgb, np.full((8, 8), 255, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    rgba[:4, :, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "cutout.png")
    frames = [Image.fromarray(np.full((8, 8, 3), value, np.uint8)) for value in (10, 250)]
    frames[0].save(tmp_path / "clip.gif", save_all=True, append_images=frames[1:])
    for name in ("opaque.png", "cutout.png", "clip.gif"):
        load_rgb(str(tmp_path / name))
    notes = capsys.readouterr().err.strip().splitlines()
    assert notes == [f"note: {tmp_path / 'cutout.png'} has transparent pixels; they were filled with white",
                     f"note: {tmp_path / 'clip.gif'} has 2 frames; only the first is used"]
    assert np.asarray(load_rgb(str(tmp_path / "cutout.png")))[0, 0].tolist() == [255, 255, 255]

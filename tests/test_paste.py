"""Pasting aligned faces back into their photos: geometry, mask, several faces, the face_align tool."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from conftest import FIXTURES, raises_user_error, tool_main, two_face_photo

from ppgan.faceutils import FaceAligner, load_rgb, paste_edits, paste_face, paste_faces, quad_to_output
from ppgan.faceutils.paste import aligned_to_photo, ellipse_mask, load_alignment
from ppgan.utils.errors import UserError

PORTRAIT = os.path.join(FIXTURES, "face_psp_input.jpg")


@pytest.fixture(scope="module")
def aligner():
    return FaceAligner()


@pytest.fixture(scope="module")
def two_faces():
    return two_face_photo()


def psnr(a, b, where):
    error = a.astype(np.float64)[where] - b.astype(np.float64)[where]
    return 10 * np.log10(255.0 ** 2 / np.mean(error ** 2))


def eye_centres(landmarks):
    return np.stack([landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)])


def test_aligned_to_photo_inverts_quad_to_output():
    rng = np.random.default_rng(0)
    angle = 0.4
    side = np.array([300.0 * np.cos(angle), 300.0 * np.sin(angle)])
    normal = np.array([-side[1], side[0]])
    quad = np.array([[50, 80], [50, 80] + normal, [50, 80] + normal + side, [50, 80] + side])
    points = rng.uniform(0, 400, (20, 2))
    aligned = quad_to_output(points, quad, 512)  # solves the quad's basis (another code path)
    matrix = aligned_to_photo(quad, 512)
    np.testing.assert_allclose(aligned @ matrix[:, :2].T + matrix[:, 2], points, atol=1e-9)


def test_mask_is_one_on_the_face_and_zero_at_the_crop_border():
    size = 256
    v, u = np.mgrid[:size, :size]
    mask = ellipse_mask(u, v, size)
    border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    assert border.max() == 0.0
    # eyes (y ~ 0.47), nose and mouth (y ~ 0.75) of an FFHQ crop lie in the full-weight core
    for x, y in [(0.38, 0.47), (0.62, 0.47), (0.5, 0.6), (0.5, 0.75)]:
        assert mask[int(y * size), int(x * size)] == 1.0
    assert 0.0 <= mask.min() and mask.max() <= 1.0


def photo_and_big_canvas():
    portrait = load_rgb(PORTRAIT)
    canvas = Image.new("RGB", (2401, 2001), (90, 110, 130))
    canvas.paste(portrait.resize((portrait.width * 3, portrait.height * 3), Image.Resampling.LANCZOS), (700, 200))
    return canvas


@pytest.mark.parametrize("case, size", [("portrait", 1024), ("portrait", 256), ("shrunk", 256)])
def test_pasting_the_unchanged_crop_back_restores_the_photo(aligner, case, size):
    # "shrunk": a 3x portrait on a big canvas, aligned at 256 through the shrink (2x) and crop steps.
    photo = load_rgb(PORTRAIT) if case == "portrait" else photo_and_big_canvas()
    face = aligner(photo, size)
    original = np.asarray(photo)
    pasted, mask = paste_face(original, face.image, face.quad)
    assert pasted.shape == original.shape and pasted.dtype == np.uint8
    inside, outside = mask > 0, mask == 0
    assert inside.sum() > 0.1 * mask.size
    assert psnr(pasted, original, inside) >= 30.0
    np.testing.assert_array_equal(pasted[outside], original[outside])
    # the mask sits on this face: full weight at both eyes
    for x, y in np.rint(eye_centres(face.landmarks)).astype(int):
        assert mask[y, x] == 1.0


def test_two_faces_are_aligned_largest_first_and_both_pasted_back(aligner, two_faces):
    faces = aligner.align_faces(two_faces, 512)
    assert [face.index for face in faces] == [0, 1] and faces[0].face_count == 2
    assert faces[0].landmarks[:, 0].max() < 400 < faces[1].landmarks[:, 0].min()  # the larger, left face first
    original = np.asarray(two_faces)
    pasted, mask = paste_faces(original, [face.image for face in faces], [face.quad for face in faces])
    assert psnr(pasted, original, mask > 0) >= 30.0
    np.testing.assert_array_equal(pasted[mask == 0], original[mask == 0])
    for face in faces:
        for x, y in np.rint(eye_centres(face.landmarks)).astype(int):
            assert mask[y, x] == 1.0


def test_paste_edits_gives_one_photo_per_edit_of_every_face(aligner, two_faces):
    faces = aligner.align_faces(two_faces, 256)
    quads = [face.quad for face in faces]
    grey, white = np.full((64, 64, 3), 100, np.uint8), np.full((64, 64, 3), 255, np.uint8)
    photos = paste_edits(two_faces, quads, [[grey, white], [white, grey]])  # [K=2 edits, N=2 faces]
    assert len(photos) == 2 and all(photo.shape == (400, 720, 3) for photo in photos)
    for photo, levels in zip(photos, [(100, 255), (255, 100)]):
        for face, level in zip(faces, levels):
            x, y = np.rint(eye_centres(face.landmarks)[0]).astype(int)
            assert (photo[y, x] == level).all()


def test_an_edited_crop_changes_the_face_only(aligner):
    photo = load_rgb(PORTRAIT)
    face = aligner(photo, 256)
    grey = np.full((1024, 1024, 3), 200, np.uint8)  # an "edit" at another resolution than the alignment
    original = np.asarray(photo)
    pasted, mask = paste_face(original, grey, face.quad)
    assert np.abs(pasted[mask == 1.0].astype(int) - 200).max() <= 0
    np.testing.assert_array_equal(pasted[mask == 0], original[mask == 0])
    partial = (mask > 0) & (mask < 1)
    expected = original[partial] + (200.0 - original[partial]) * mask[partial][:, None]
    assert np.abs(pasted[partial] - expected).max() <= 0.5 + 1e-4


def test_colour_matching_is_off_by_default_and_undoes_a_colour_cast(aligner):
    photo = load_rgb(PORTRAIT)
    face = aligner(photo, 256)
    cast = np.clip(np.asarray(face.image).astype(int) + [40, -20, 10], 0, 255).astype(np.uint8)
    original = np.asarray(photo)
    plain, mask = paste_face(original, cast, face.quad)
    matched, _ = paste_face(original, cast, face.quad, colour_match=True)
    inside = mask > 0
    assert psnr(plain, original, inside) < 25.0
    assert psnr(matched, original, inside) > psnr(plain, original, inside) + 5.0
    np.testing.assert_array_equal(matched[mask == 0], original[mask == 0])


def test_too_many_and_too_small_faces_are_user_errors(aligner, two_faces):
    with raises_user_error("has 2 faces, more than --max_faces 1; pass --max_faces 2"):
        aligner.align_faces(two_faces, 256, max_faces=1)
    assert len(aligner.align_faces(two_faces, 256, max_faces=1, extra_faces="ignore")) == 1
    tiny = load_rgb(PORTRAIT).resize((60, 75), Image.Resampling.LANCZOS)  # dlib still finds the face
    with pytest.raises(UserError, match="too small to align"):
        aligner.align_faces(tiny, 256)


def run_tool(*argv):
    return tool_main("face_align")(list(argv))


def test_cli_writes_a_record_per_face_and_pastes_a_crop_back(two_faces, tmp_path, monkeypatch):
    photo = tmp_path / "group.png"
    two_faces.save(photo)
    out = tmp_path / "out"
    run_tool("--input_image", str(photo), "--output_path", str(out), "--size", "256", "--max_faces", "2")
    assert sorted(os.listdir(out)) == ["group_aligned.json", "group_aligned.png", "group_aligned_1.json",
                                       "group_aligned_1.png"]
    record = json.loads((out / "group_aligned_1.json").read_text())
    assert record["source"] == "group.png" and record["face_index"] == 1 and record["size"] == 256
    assert record["photo_size"] == [720, 400] and np.asarray(record["quad"]).shape == (4, 2)
    assert load_alignment(str(out / "group_aligned_1.json"))["quad"].shape == (4, 2)

    # paste a grey square over face 1 with the quad of the record (no detection: the aligner is not built)
    grey = tmp_path / "edited" / "group_aligned_1.png"
    grey.parent.mkdir()
    Image.new("RGB", (512, 512), (200, 200, 200)).save(grey)
    (grey.parent / "group_aligned_1.json").write_text((out / "group_aligned_1.json").read_text())
    import ppgan.faceutils.align as align_module

    monkeypatch.setattr(align_module.FaceAligner, "__init__", lambda *a, **k: pytest.fail("aligner built"))
    run_tool("--input_image", str(photo), "--paste_back", str(grey), "--face_index", "1", "--output_path", str(out))
    pasted = np.asarray(Image.open(out / "group_pasted.png"))
    original = np.asarray(two_faces)
    assert pasted.shape == original.shape
    changed = np.any(pasted != original, axis=-1)
    assert changed[:, 400:].any() and not changed[:, :400].any()  # only the right face changed
    monkeypatch.undo()

    # without a record the alignment is recomputed from the photo: the same pixels
    os.remove(grey.parent / "group_aligned_1.json")
    again = tmp_path / "again"
    run_tool("--input_image", str(photo), "--paste_back", str(grey), "--face_index", "1", "--output_path", str(again))
    recomputed = np.asarray(Image.open(again / "group_pasted.png")).astype(int)
    assert np.abs(recomputed - pasted).max() <= 2
    with raises_user_error("--face_index 2 but .* has 2 face"):
        run_tool("--input_image", str(photo), "--paste_back", str(grey), "--face_index", "2",
                 "--output_path", str(again))

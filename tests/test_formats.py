"""Every checkpoint format, converted by tools/convert_weights.py and loaded directly by --weight_path, reproduces
the references the original repositories' own code computed (tests/fixtures/README.md), and the StyleCLIP
pipeline runs on a converted NVIDIA generator."""
import os

import numpy as np
import paddle
import pytest

from PIL import Image

from conftest import FIXTURES, listing, malicious_files, raises_user_error, tool_main

from ppgan.cli.common import run_cli
from ppgan.models.formats import file_format
from ppgan.models.loading import load_psp, load_stylegan2
from ppgan.models.zoo import inverter_spec, model_spec

GENERATORS = {"ada": "nvlabs_stylegan2ada_64px_small", "tf": "nvlabs_stylegan2_tf_64px_small"}
ENCODERS = {"psp": "psp_official_64px_small", "e4e": "e4e_64px_small"}


def _reference(stem):
    return np.load(os.path.join(FIXTURES, stem + "_reference.npz"))


def _convert(source, output, capsys):
    run_cli(tool_main("convert"), ["--input", source, "--output", str(output)])
    return capsys.readouterr().out


def _max_error(actual, expected):
    return float(np.abs(np.asarray(actual) - expected).max())


@pytest.mark.parametrize("name", GENERATORS)
def test_nvidia_generators_load_directly_and_converted(name, tmp_path, capsys):
    stem = GENERATORS[name]
    source, ref = os.path.join(FIXTURES, stem + ".pkl"), _reference(stem)
    converted = tmp_path / f"stylegan2-{name}.pdparams"
    assert "64 px, style_dim 64, n_mlp 2" in _convert(source, converted, capsys)
    assert file_format(source) == "nvlabs" and file_format(str(converted)) == "pdparams"
    for path in (source, str(converted)):
        generator = load_stylegan2(weight_path=path)
        np.testing.assert_array_equal(np.asarray(generator.w_avg).reshape(-1), ref["w_avg"])
        with paddle.no_grad():
            centre = generator.truncation_centre(np.random.RandomState(0), float(ref["psi"]))
            w = generator.get_latents(paddle.to_tensor(ref["z"])).numpy()
            w_psi = generator.get_latents(paddle.to_tensor(ref["z"]), float(ref["psi"]), truncation_latent=centre)
            assert _max_error(np.repeat(w[:, None], generator.n_latent, 1), ref["ws"]) < 1e-4
            assert _max_error(np.repeat(w_psi.numpy()[:, None], generator.n_latent, 1), ref["ws_psi"]) < 1e-4
            for latents, images in (("ws", "images"), ("ws_psi", "images_psi")):
                image = generator.synthesis_from_styles(generator.style_affine(paddle.to_tensor(ref[latents])))
                assert _max_error(image.numpy(), ref[images]) < 1e-4, (path, images)


@pytest.mark.parametrize("name", ENCODERS)
def test_official_encoders_load_directly_and_converted(name, tmp_path, capsys):
    stem = ENCODERS[name]
    source, ref = os.path.join(FIXTURES, stem + ".pt"), _reference(stem)
    converted = tmp_path / f"{name}.pdparams"
    assert "encoder for a 64 px decoder" in _convert(source, converted, capsys)
    x = paddle.to_tensor((ref["image_uint8"].astype(np.float32) / 255 - 0.5) / 0.5).transpose([0, 3, 1, 2])
    for path in (source, str(converted)):
        model = load_psp(weight_path=path)
        with paddle.no_grad():
            codes = model.encode(x).numpy()
            images = model.decoder.synthesis_from_styles(model.decoder.style_affine(paddle.to_tensor(codes)))
        assert _max_error(codes, ref["codes"]) < 1e-4, path
        assert _max_error(images.numpy(), ref["images"]) < 1e-4, path


def test_crafted_and_damaged_files_are_refused_by_the_converter(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    crafted = malicious_files(tmp_path, marker)
    cases = [crafted[("os.system", "torch zip")], crafted[("builtins.eval", "pickle4")]]
    for stem in list(GENERATORS.values()):
        truncated = tmp_path / f"{stem}.pkl"
        data = open(os.path.join(FIXTURES, stem + ".pkl"), "rb").read()
        truncated.write_bytes(data[:len(data) * 2 // 3])
        cases.append(str(truncated))
    for path in cases:
        with pytest.raises(SystemExit) as exit_info:
            run_cli(tool_main("convert"), ["--input", path, "--output", str(tmp_path / "out.pdparams")])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert path in err
    assert not marker.exists() and not (tmp_path / "out.pdparams").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", GENERATORS)
def test_styleclip_pipeline_on_a_converted_nvidia_generator(name, tmp_path, capsys, monkeypatch, random_clip_file):
    """styleclip_getf.py, extract and edit run on a converted NVIDIA network, outputs named after the file."""
    weights = tmp_path / "stylegan2-cats-64.pdparams"
    _convert(os.path.join(FIXTURES, GENERATORS[name] + ".pkl"), weights, capsys)
    work = tmp_path / "work"
    work.mkdir()
    run_cli(tool_main("getf"), ["--weight_path", str(weights), "--num_samples", "200", "--num_saved", "4",
                                "--output_dir", str(work)])
    assert {"S-cats-64.pdparams", "stylegan2-cats-64-styleclip-stats.pdparams"} <= set(os.listdir(work))
    monkeypatch.chdir(work)
    run_cli(tool_main("extract"), ["--weight_path", str(weights), "--num_images", "1", "--clip_weight_path",
                                   random_clip_file, "--output", str(work / "fs3.pdparams")])
    run_cli(tool_main("edit"), ["--weight_path", str(weights), "--direction_path", str(work / "fs3.pdparams"),
                                "--clip_weight_path", random_clip_file, "--target", "smiling face",
                                "--beta_threshold", "0", "--direction_offset", "0", "3",
                                "--output_path", str(work / "edit")])
    files = listing(work / "edit")
    assert "dst.editing_3.png" in files and "dst.editing.pd" in files


def test_the_e4e_tool_inverts_an_aligned_face_as_the_official_code(tmp_path, capsys):
    """encoder4editing.py --no_align: the crop is only resized (PIL bilinear), then e4e's codes (latent_avg
    included) are dst.npy and the file's own decoder renders dst.png."""
    ref = _reference(ENCODERS["e4e"])
    out = tmp_path / "out"
    run_cli(tool_main("e4e"), ["--input_image", os.path.join(FIXTURES, "ffhq_e4e_0.jpg"), "--no_align",
                               "--weight_path", os.path.join(FIXTURES, ENCODERS["e4e"] + ".pt"),
                               "--output_path", str(out)])
    assert "W+ [10, 32]" in capsys.readouterr().out
    assert _max_error(np.load(out / "dst.npy"), ref["codes"][1]) < 1e-4
    np.testing.assert_array_equal(np.asarray(Image.open(out / "src.png")), ref["image_uint8"][1])
    assert Image.open(out / "dst.png").size == (64, 64)


def test_encoder_choice_picks_the_released_inverter():
    ffhq = model_spec("stylegan2", "ffhq-config-f")
    mine = os.path.join(FIXTURES, ENCODERS["e4e"] + ".pt")
    assert inverter_spec(ffhq).name == "ffhq-inversion"
    assert inverter_spec(ffhq, encoder="e4e").name == "ffhq-e4e"
    assert inverter_spec(ffhq, mine, encoder="e4e").weights == mine
    with raises_user_error("no released e4e model inverts photos into animeface-512; pass an e4e .pt with "
                           "--psp_weight_path"):
        inverter_spec(model_spec("stylegan2", "animeface-512"), encoder="e4e")

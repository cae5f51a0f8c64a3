"""Every tool refuses bad values, clashing names and foreign files with one line, exit 2, and nothing written.

Each case runs a tool's ``main`` through ``run_cli`` in this process (what the script does,
without the seconds Paddle takes to start); a few run the real scripts as subprocesses. All
cases fail before any model loads, and the temporary folder holding the inputs and the
outputs must be exactly as it was (no file, no folder, no temporary left behind).
"""
import os
import pickle
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import FIXTURES, REPO_ROOT, SMALL_FLAGS, tool_main

from ppgan.cli.common import run_cli


PHOTO = os.path.join(FIXTURES, "face_psp_input.jpg")


def _snapshot(root):
    """Every path under ``root`` with its size and modification time."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            found[os.path.relpath(path, root)] = (info.st_size if name in files else None, info.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, small_generator_weights):
    """A folder with inputs (weights, a folder, foreign .npy files) and an existing output folder."""
    root = tmp_path_factory.mktemp("bad_input")
    (root / "folder").mkdir()
    (root / "text.npy").write_text("a text file, not numpy\n")
    with open(root / "pickled.npy", "wb") as f:
        pickle.dump({"w": [1, 2, 3]}, f)
    np.save(root / "objects.npy", np.array([{"w": 1}], dtype=object))
    np.save(root / "w.npy", np.zeros((18, 512), np.float32))
    (root / "a_file").write_text("not a folder\n")
    out = root / "out"
    out.mkdir()
    (out / "keep.txt").write_text("a file of the user's that must stay\n")
    for clash in ("sample.png", "latents.npy", "dst.editing.png", "dst.editing_strip.png", "dst.npy",
                  "face_psp_input_aligned.png", "synthesis.pdiparams",
                  "S-clash.pdparams", "stylegan2-clash-styleclip-global-directions.pdparams"):
        (root / "clash" / clash).mkdir(parents=True)
    os.symlink(small_generator_weights, root / "g.pdparams")
    return root


def _set(flag, value):
    """``--flag=value``: argparse takes ``-inf`` or ``-5`` after ``=`` only."""
    return [f"{flag}={value}"]


def _cases():
    """(tool, arguments, a fragment the error line must hold); {root} is the workspace."""
    sample = ["--weight_path", "{root}/g.pdparams", *SMALL_FLAGS, "--output_path", "{root}/out/sample"]
    getf = ["--weight_path", "{root}/g.pdparams", "--output_dir", "{root}/out/stats", "--num_samples", "100",
            "--num_saved", "10"]
    edit = ["--target", "smiling face", "--output_path", "{root}/out/edit", "--latent", "{root}/w.npy"]
    extract = ["--S_path", "{root}/missing_S.pdparams", "--output", "{root}/out/fs3.pdparams"]
    psp = ["--input_image", PHOTO, "--output_path", "{root}/out/psp"]
    cases = []
    for value in ("0", "-2", "101", "99999999999"):
        cases += [("styleganv2", sample + _set("--n_row", value), "--n_row"),
                  ("styleganv2", sample + _set("--n_col", value), "--n_col")]
    for value in ("nan", "inf", "-inf", "1e30", "-5"):
        cases += [("styleganv2", sample + _set("--truncation", value), "--truncation"),
                  ("getf", getf + _set("--truncation", value), "--truncation")]
    for value in ("-1", "4294967296", "99999999999"):
        cases += [("styleganv2", sample + _set("--seed", value), "--seed"),
                  ("getf", getf + _set("--seed", value), "--seed"),
                  ("edit", edit + _set("--seed", value), "--seed"),
                  ("psp", psp + _set("--seed", value), "--seed"),
                  ("app", _set("--seed", value), "--seed")]
    cases += [
        ("styleganv2", sample[:-1] + ["{root}/clash"], "sample.png exists as a folder"),
        ("styleganv2", sample[:-1] + ["{root}/a_file"], "is a file"),
        ("styleganv2", sample[:-1] + ["{root}/a_file/below"], "a file"),
        ("getf", getf + ["--num_samples", "1"], "--num_samples"),
        ("getf", getf + _set("--num_samples", "-5"), "--num_samples"),
        ("getf", getf + ["--num_samples", "99999999999"], "--num_samples"),
        ("getf", getf + ["--num_saved", "0"], "--num_saved"),
        ("getf", getf + ["--num_saved", "999999999"], "--num_saved"),
        ("getf", getf + ["--batch_size", "0"], "--batch_size"),
        ("getf", getf + _set("--batch_size", "-1"), "--batch_size"),
        ("getf", getf + ["--truncation_cutoff", "0"], "--truncation_cutoff"),
        ("getf", getf + ["--dataset_name", "../../escape"], "--dataset_name '../../escape' is not a name"),
        ("getf", getf + ["--dataset_name", "a/b"], "is not a name"),
        ("getf", getf + ["--dataset_name", ".."], "is not a name"),
        ("getf", getf + ["--dataset_name", ""], "is not a name"),
        ("getf", getf + ["--dataset_name", "clash", "--output_dir", "{root}/clash"], "exists as a folder"),
        ("getf", getf + ["--output_dir", "{root}/a_file"], "is a file"),
    ]
    for value in ("nan", "inf", "-inf", "1e30", "-1e30", "101"):
        cases += [("edit", edit + ["--direction_offset", "1", value.replace("-", "") or value],
                   "--direction_offset 1 "),
                  ("edit", edit + _set("--direction_offset", value), "--direction_offset"),
                  ("app", _set("--direction_offset", value), "--direction_offset")]
    for value in ("nan", "-1", "inf", "often"):
        cases += [("edit", edit + _set("--beta_threshold", value), "--beta_threshold"),
                  ("app", _set("--beta_threshold", value), "--beta_threshold")]
    cases += [
        ("edit", edit[:-1] + ["{root}/folder"], "--latent {root}/folder is a folder"),
        ("edit", edit[:-1] + ["{root}/missing.npy"], "does not exist"),
        ("edit", edit[:-1] + ["{root}/text.npy"], "is not a numpy .npy file"),
        ("edit", edit[:-1] + ["{root}/pickled.npy"], "is not a numpy .npy file"),
        ("edit", edit[:-1] + ["{root}/objects.npy"], "pickled Python objects"),
        ("edit", edit[:-2] + ["--input_image", "{root}/folder"], "folder {root}/folder has no image files"),
        ("edit", edit[:-2] + ["--input_image", "{root}/missing.jpg"], "does not exist"),
        ("edit", edit[:3] + ["{root}/clash"] + edit[4:], "dst.editing.png exists as a folder"),
        ("edit", edit[:3] + ["{root}/a_file"] + edit[4:], "is a file"),
        ("edit", ["--target", "smiling " * 80, "--output_path", "{root}/out/edit"], "CLIP tokens"),
        ("edit", ["--target", " ", "--output_path", "{root}/out/edit"], "empty text"),
        ("edit", edit + _set("--max_faces", "0"), "--max_faces"),
        ("edit", edit + _set("--max_faces", "1000"), "--max_faces"),
    ]
    for value in ("nan", "inf", "0", "-1", "1e30"):
        cases += [("extract", [*extract, *_set("--alpha", value)], "--alpha")]
    cases += [
        ("extract", [*extract, "--num_images", "0"], "--num_images"),
        ("extract", [*extract, *_set("--num_images", "-1")], "--num_images"),
        ("extract", [*extract, "--batch_size", "0"], "--batch_size"),
        ("extract", [*extract, "--batch_size", "99999999"], "--batch_size"),
        ("extract", [*extract, "--render_batch", "0"], "--render_batch"),
        ("extract", [*extract, "--render_batch", "3"], "--render_batch"),
        ("extract", [*extract, "--checkpoint_every", "0"], "--checkpoint_every"),
        ("extract", [*extract, "--merge_wait", "nan"], "--merge_wait"),
        ("extract", [*extract, *_set("--merge_wait", "-1")], "--merge_wait"),
        ("extract", [*extract, "--dataset_name", "../x"], "is not a name"),
        ("extract", [*extract[:-1], "{root}/folder"], "--output"),
        ("extract", ["--dataset_name", "clash", "--output",
                     "{root}/clash/stylegan2-clash-styleclip-global-directions.pdparams"], "exists as a folder"),
        ("extract", ["--merge", "--output", "{root}/folder"], "exists as a folder"),
    ]
    for value in ("0", "-5", "15", "99999999"):
        cases += [("face_align", ["--input_image", PHOTO, "--output_path", "{root}/out/aligned", *_set("--size", value)],
                   "--size")]
    for value in ("0", "-5", "101", "99999999"):
        cases += [("face_align", ["--input_image", PHOTO, "--output_path", "{root}/out/aligned",
                                  *_set("--max_faces", value)], "--max_faces")]
    cases += [
        ("face_align", ["--input_image", PHOTO, "--paste_back", PHOTO, "--output_path", "{root}/out/aligned",
                        *_set("--face_index", "-1")], "--face_index"),
        ("face_align", ["--input_image", "{root}/missing.jpg", "--output_path", "{root}/out/aligned"],
         "does not exist"),
        ("face_align", ["--input_image", "{root}/folder", "--output_path", "{root}/out/aligned"], "no image files"),
        ("face_align", ["--input_image", PHOTO, "--output_path", "{root}/clash"], "exists as a folder"),
        ("face_align", ["--input_image", PHOTO, "--output_path", "{root}/a_file"], "is a file"),
        ("psp", ["--input_image", "{root}/folder", "--output_path", "{root}/out/psp"], "is a folder"),
        ("psp", ["--input_image", "{root}/missing.jpg", "--output_path", "{root}/out/psp"], "does not exist"),
        ("psp", ["--input_image", PHOTO, "--output_path", "{root}/clash"], "dst.npy exists as a folder"),
        ("export", ["--weight_path", "{root}/g.pdparams", *SMALL_FLAGS, "--output_dir", "{root}/clash"],
         "synthesis.pdiparams exists as a folder"),
        ("export", ["--weight_path", "{root}/g.pdparams", *SMALL_FLAGS, "--output_dir", "{root}/a_file"], "is a file"),
        ("app", ["--port", "0"], "--port"),
        ("app", ["--port", "70000"], "--port"),
    ]
    return cases


CASES = _cases()


@pytest.mark.parametrize("tool, args, message", CASES,
                         ids=[f"{tool}:{' '.join(args[-2:])}"[:60] for tool, args, _ in CASES])
def test_bad_value_is_one_line_and_writes_nothing(workspace, capsys, tool, args, message):
    main = tool_main(tool)
    argv = [arg.format(root=workspace) for arg in args]
    before = _snapshot(workspace)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message.format(root=workspace) in lines[0]
    assert "Traceback" not in err + out and "allow_pickle" not in err and "np.float" not in err
    assert _snapshot(workspace) == before


def test_port_taken_names_the_flag(workspace, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as exit_info:
            run_cli(tool_main("app"), ["--host", "127.0.0.1", "--port", str(port)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.strip() == (f"error: port {port} on 127.0.0.1 is already in use; pick another with --port, "
                           f"e.g. --port {port + 1}")


@pytest.mark.parametrize("script, args, message", [
    ("applications/tools/styleganv2.py", ["--seed", "-1", "--output_path", "{root}/out/sample"], "--seed -1"),
    ("styleclip_getf.py", ["--dataset_name", "../../escape", "--output_dir", "{root}/out/stats"], "not a name"),
    ("applications/tools/styleganv2clip.py",
     ["--target", "smiling face", "--direction_offset", "1e30", "--output_path", "{root}/out/edit"],
     "--direction_offset 1e+30"),
])
def test_scripts_exit_2_with_one_error_line(workspace, script, args, message):
    before = _snapshot(workspace)
    result = subprocess.run([sys.executable, os.path.join(REPO_ROOT, script),
                             *[arg.format(root=workspace) for arg in args]],
                            capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert "Traceback" not in result.stderr
    assert _snapshot(workspace) == before

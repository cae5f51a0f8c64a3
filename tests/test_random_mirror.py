"""The README's first example (one face, edited into output_dir) and the random mirror that runs it without downloading.

The README's commands are read from its ```bash blocks (as tests/test_tutorials.py reads the tutorials'),
so a change of the README that breaks the promise of item 1 of issue 23 (a first run of about a minute:
one face, its files where the text says) fails here. The mirror (``tools/random_mirror.py``) is run as a
command, and the README's commands are then run against it with ``PPGAN_MODEL_BASE_URL=file://...`` and a
cache of their own.
"""
import os
import re
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, load_tool, raises_user_error
from test_tutorials import LINKED, documented_commands

README = os.path.join(REPO_ROOT, "README.md")
SAMPLE_SCRIPT = "applications/tools/styleganv2.py"
EDIT_SCRIPT = "applications/tools/styleganv2clip.py"


def flag_values(command, flag):
    """The values after ``flag`` in a split command line (up to the next flag), [] when it is absent."""
    if flag not in command:
        return []
    values = []
    for word in command[command.index(flag) + 1:]:
        if re.fullmatch(r"--[a-z_]+", word):
            break
        values.append(word)
    return values


def first_example():
    """(sample command, edit command, the README's text after the edit's block) of the README's first example:
    its first sampling command and the first edit of the latents that command writes."""
    commands = documented_commands(README)
    sample = next(command for command in commands if command[1] == SAMPLE_SCRIPT)
    latents = os.path.join(flag_values(sample, "--output_path")[0], "latents.npy")
    edit = next(command for command in commands if command[1] == EDIT_SCRIPT and flag_values(command, "--latent") == [latents])
    with open(README, encoding="utf-8") as f:
        text = f.read()
    after = text[text.index(" ".join(edit[2:5])):].split("```", 2)[1]  # the prose between its block and the next
    return sample, edit, after


def test_readme_first_example_samples_one_face_and_edits_it_into_output_dir():
    from ppgan.styleclip.outputs import (
        DST_NAME,
        SRC_NAME,
        STRIP_NAME,
        STYLES_NAME,
        face_folders,
        output_files,
    )

    sample, edit, after = first_example()
    faces = int(flag_values(sample, "--n_row")[0]) * int(flag_values(sample, "--n_col")[0])
    assert faces == 1
    output_path = flag_values(edit, "--output_path")[0]
    assert face_folders(output_path, faces) == [output_path]
    strengths = [float(value) for value in flag_values(edit, "--direction_offset")]
    assert 1 <= len(strengths) <= 7  # a first run of about a minute: a few renders
    written = {os.path.basename(path) for path in output_files(face_folders(output_path, faces), strengths)}
    named = {SRC_NAME, DST_NAME, STRIP_NAME, STYLES_NAME}
    assert named <= written
    assert f"into `{output_path}`" in after
    assert [name for name in named if f"`{name}`" not in after] == []


def test_readme_says_where_the_faces_of_a_grid_go():
    from ppgan.styleclip.outputs import face_folders

    grids = [command for command in documented_commands(README) if command[1] == SAMPLE_SCRIPT
             and int(flag_values(command, "--n_row")[0]) * int(flag_values(command, "--n_col")[0]) > 1]
    assert grids
    with open(README, encoding="utf-8") as f:
        text = f.read()
    for grid in grids:
        faces = int(flag_values(grid, "--n_row")[0]) * int(flag_values(grid, "--n_col")[0])
        first, last = face_folders(flag_values(grid, "--output_path")[0], faces)[::faces - 1]
        assert f"`{first}/`" in text and f"`{last}/`" in text


def test_random_weights_say_so_when_they_load(tmp_path, capsys):
    import numpy as np
    import paddle

    from ppgan.utils.checkpoint import RANDOM_WEIGHTS_KEY, load_pdparams

    path = str(tmp_path / "g.pdparams")
    paddle.save({"w": paddle.ones([2]), RANDOM_WEIGHTS_KEY: "made by a test"}, path)
    content = load_pdparams(path)
    assert list(content) == ["w"] and np.array_equal(content["w"], np.ones(2, np.float32))
    assert capsys.readouterr().err == f"note: {path} holds random weights (made by a test); faces are noise and " \
                                      "edits have no meaning\n"


def test_the_mirror_refuses_to_make_up_a_file_pinned_by_md5(tmp_path, monkeypatch):
    from ppgan.styleclip import random_models

    monkeypatch.setattr(random_models, "RELEASE_COPIES", str(tmp_path / "no_copies"))
    with raises_user_error(r"stylegan2-ffhq-config-f-styleclip-stats.pdparams is pinned to md5 \w+ by its config, "
                           r"so it cannot be made up"):
        load_tool("tools/random_mirror.py")(["--output_dir", str(tmp_path / "mirror"), "--size", "32"])
    assert not (tmp_path / "mirror").exists()


def release_files():
    """The file of every release the README's commands download by default (from the registry, not typed here)."""
    from ppgan.metrics.lpips import LINS_MODEL, VGG_MODEL
    from ppgan.models.zoo import DEFAULT_MODELS, ENCODERS, find_model

    generator = find_model("stylegan2", DEFAULT_MODELS["stylegan2"])
    models = [generator, find_model("psp", generator.inverter), find_model("psp", ENCODERS["e4e"]),
              find_model("clip", DEFAULT_MODELS["clip"]), find_model("lpips", VGG_MODEL), find_model("lpips", LINS_MODEL)]
    return sorted([model.weights.file for model in models] + [generator.directions.file, generator.stats.file])


def write_mirror(folder, *flags):
    """Run the mirror command into ``folder``; its stdout."""
    result = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "tools", "random_mirror.py"), "--output_dir",
                             str(folder), *flags], capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(folder)) == sorted(release_files() + ["README.txt"])
    assert "RANDOM weights" in (folder / "README.txt").read_text() and "RANDOM weights" in result.stdout
    assert re.search(r"wrote 9 files, [\d.]+ [GM]B in all \(random weights, noise faces\)", result.stdout)
    return result.stdout


def run_first_example(sandbox, mirror, extra=()):
    """Run the README's first example as written (plus ``extra`` flags) from ``sandbox``, the models downloaded
    from ``mirror`` into a cache of its own; the stderr of each command."""
    env = dict(os.environ, PPGAN_MODEL_BASE_URL=f"file://{mirror}", PPGAN_HOME=str(sandbox / "cache"))
    errors = []
    for command in first_example()[:2]:
        result = subprocess.run([sys.executable, *command[1:], *extra], cwd=sandbox, env=env, capture_output=True,
                                text=True, timeout=900, check=False)
        assert result.returncode == 0, result.stderr
        errors.append(result.stderr)
    return errors


def assert_first_example_files(sandbox):
    from ppgan.styleclip.outputs import face_folders, output_files

    _, edit, _ = first_example()
    output_path = flag_values(edit, "--output_path")[0]
    strengths = [float(value) for value in flag_values(edit, "--direction_offset")]
    for path in output_files(face_folders(output_path, 1), strengths) + [os.path.join(output_path, "sample.png")]:
        assert (sandbox / path).is_file(), path


@pytest.fixture
def sandbox(tmp_path):
    """A folder that looks like the clone (its folders linked), where the README's relative paths resolve."""
    root = tmp_path / "clone"
    root.mkdir()
    for name in LINKED:
        os.symlink(os.path.join(REPO_ROOT, name), root / name)
    return root


def test_the_first_example_runs_from_a_small_random_mirror(tmp_path, sandbox):
    """The mirror at 32 px (the tools then take --size 32): the README's first example downloads from it."""
    write_mirror(tmp_path / "mirror", "--size", "32")
    sample_errors, edit_errors = run_first_example(sandbox, tmp_path / "mirror", ["--size", "32"])
    assert "stylegan2-ffhq-config-f.pdparams holds random weights" in sample_errors
    assert "ViT-B-32.pdparams holds random weights" in edit_errors
    assert_first_example_files(sandbox)


@pytest.mark.slow  # about 3 minutes on 2 cores: a 3.2 GB mirror, then the two commands at 1024 px
def test_the_first_example_runs_verbatim_from_the_default_random_mirror(tmp_path, sandbox):
    write_mirror(tmp_path / "mirror")
    run_first_example(sandbox, tmp_path / "mirror")
    assert_first_example_files(sandbox)

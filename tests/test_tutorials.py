"""The tutorials' commands run as written: each one's --help, and the short ones for real on small random models.

The commands are read from the ```bash blocks of docs/{en_US,zh_CN}/tutorials/*.md (both languages
must document the same commands) and run from a sandbox that links the repository's folders, so
relative paths resolve as in a clone and outputs stay out of it. A real run appends flags pointing
at a random 32 px generator, random directions, CLIP and pSp files (argparse keeps the last value of
a flag); random directions carry no meaning, so it also appends a beta that keeps channels.
"""
import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import FIXTURES, REPO_ROOT

TUTORIAL_DIRS = [os.path.join(REPO_ROOT, "docs", lang, "tutorials") for lang in ("en_US", "zh_CN")]
# what a clone holds: its folders (but an output folder of a previous run) and top-level scripts
LINKED = sorted(name for name in os.listdir(REPO_ROOT) if not name.startswith(".") and name != "output_dir" and
                (os.path.isdir(os.path.join(REPO_ROOT, name)) or name.endswith(".py")))

GENERATOR_FLAGS = ["--size", "32", "--style_dim", "512", "--n_mlp", "2", "--channel_multiplier", "2"]


def tutorial_files(directory):
    return sorted(os.path.join(directory, name) for name in os.listdir(directory) if name.endswith(".md"))


def documented_commands(path):
    """The ``python ...`` commands of the ```bash blocks of ``path``, continuation lines joined, in order."""
    with open(path, encoding="utf-8") as f:
        blocks = re.findall(r"```bash\n(.*?)```", f.read(), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip().startswith("python "):
                commands.append(shlex.split(line))
    return commands


def tool_of(command):
    """The script (and subcommand) a command runs: what ``--help`` is asked of."""
    script = command[1]
    return (script, command[2]) if len(command) > 2 and not command[2].startswith("-") else (script,)


ALL_COMMANDS = [cmd for directory in TUTORIAL_DIRS for path in tutorial_files(directory)
                for cmd in documented_commands(path)]
TOOLS = sorted({tool_of(cmd) for cmd in ALL_COMMANDS})


def test_both_languages_document_the_same_commands():
    english, chinese = ([documented_commands(path) for path in tutorial_files(d)] for d in TUTORIAL_DIRS)
    assert [os.path.basename(p) for p in tutorial_files(TUTORIAL_DIRS[0])] == \
        [os.path.basename(p) for p in tutorial_files(TUTORIAL_DIRS[1])]
    assert english == chinese
    assert len(TOOLS) >= 6


@pytest.fixture
def sandbox(tmp_path):
    for name in LINKED:
        os.symlink(os.path.join(REPO_ROOT, name), tmp_path / name)
    return tmp_path


def run(command, cwd, env=None):
    return subprocess.run([sys.executable, *command[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("tool", TOOLS, ids=" ".join)
def test_each_documented_tool_explains_its_flags(tool, sandbox):
    result = run(["python", *tool, "--help"], sandbox)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:") and result.stderr == ""


def small_run_flags(config_f_32px_files, random_psp_file):
    """Flags appended to each short command for its real run; tools not listed run only --help."""
    generator = ["--weight_path", str(config_f_32px_files / "generator.pdparams"), *GENERATOR_FLAGS, "--cpu"]
    return {
        "applications/tools/styleganv2.py": generator,
        "styleclip_getf.py": generator + ["--num_samples", "1000", "--num_saved", "100", "--batch_size", "500"],
        "applications/tools/styleganv2clip.py": generator + [
            "--direction_path", str(config_f_32px_files / "fs3.pdparams"), "--psp_weight_path", random_psp_file,
            "--beta_threshold", "0.02"],
        "applications/tools/face_align.py": [],
        "applications/tools/pixel2style2pixel.py": ["--weight_path", random_psp_file, "--cpu"],
    }


def write_face_clip(path, frames=6):
    """A short H.264 clip of a fixture portrait drifting right over grey (240 x 200, 25 fps)."""
    import cv2
    import numpy as np

    from ppgan.faceutils import load_rgb
    from ppgan.utils.video import VideoWriter

    portrait = cv2.resize(np.asarray(load_rgb(os.path.join(FIXTURES, "face_psp_input.jpg"))), (128, 160),
                          interpolation=cv2.INTER_AREA)
    with VideoWriter(str(path), 25, (240, 200)) as writer:
        for index in range(frames):
            canvas = np.full((200, 240, 3), 118, np.uint8)
            shift = np.float32([[1, 0, 40 + 0.8 * index], [0, 1, 20]])
            cv2.warpAffine(portrait, shift, (240, 200), dst=canvas, borderMode=cv2.BORDER_TRANSPARENT)
            writer.write(canvas)


@pytest.mark.slow  # about 2 minutes of CPU: four CLIP loads, pSp, and a short video
def test_short_commands_run_as_written_on_small_models(sandbox, config_f_32px_files, random_psp_file, random_clip_file):
    home = sandbox / "cache"
    home.mkdir()
    os.symlink(random_clip_file, home / "ViT-B-32.pdparams")  # the CLIP release, as the cache holds it
    env = dict(os.environ, PPGAN_HOME=str(home), PPGAN_SYNTHESIS="eager")
    write_face_clip(sandbox / "clip.mp4")  # the video the tutorial's video commands name
    extra = small_run_flags(config_f_32px_files, random_psp_file)
    english = [cmd for path in tutorial_files(TUTORIAL_DIRS[0]) for cmd in documented_commands(path)]
    ran = []
    for command in english:  # in the order a reader runs them: later commands read earlier outputs
        if command[1] not in extra:
            continue
        result = run(command + extra[command[1]], sandbox, env)
        assert result.returncode == 0, f"{shlex.join(command)}\n{result.stderr}"
        ran.append(command[1])
    assert set(ran) == set(extra)
    out = sandbox / "output_dir"
    for name in ("sample.png", "latents.npy", "dst.editing_strip.png", "dst.editing.pd", "dst.npy",
                 "face_psp_input_aligned.png", "face_psp_input.edited.png"):
        assert (out / name).is_file(), name
    assert (sandbox / "S-ffhq-config-f.pdparams").is_file()


def test_what_the_readme_commands_write_into_the_clone_is_ignored_by_git():
    """The statistics step (--output_dir .), extraction (output, resume and part files), the export and the random
    mirror write into the clone's root: git ignores them, so `git status` stays clean (names from the code, not typed here)."""
    import shutil

    from ppgan.cli.random_mirror import DEFAULT_OUTPUT_DIR
    from ppgan.styleclip.extract import output_file_name, part_path, resume_path
    from ppgan.styleclip.stats import s_codes_file_name, stats_file_name

    if shutil.which("git") is None or not os.path.isdir(os.path.join(REPO_ROOT, ".git")):
        pytest.skip("not a git clone")
    directions = output_file_name("ffhq-config-f")
    written = [s_codes_file_name("ffhq-config-f"), stats_file_name("ffhq-config-f"), directions,
               resume_path(directions), resume_path(directions, 1, 4), part_path(directions, 1, 4),
               "inference_model/synthesis.pdiparams", "inference_model/synthesis.json",
               f"{DEFAULT_OUTPUT_DIR}/README.txt", f"{DEFAULT_OUTPUT_DIR}/cache/ViT-B-32.pdparams"]
    result = subprocess.run(["git", "check-ignore", "--no-index", *written], cwd=REPO_ROOT, capture_output=True,
                            text=True)
    assert sorted(result.stdout.split()) == sorted(written)
    kept = subprocess.run(["git", "check-ignore", "--no-index", "ppgan/cli/edit.py", "configs/clip-ViT-B-32.yaml"],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    assert kept.stdout == ""


def test_every_gpu_install_line_pins_numpy_1():
    """PyPI's paddlepaddle-gpu 2.6.2 was built against numpy 1.x: every install line of it says so."""
    lines = []
    for doc in ("README.md", "docs/gpu.md", "docs/en_US/tutorials/styleclip.md", "docs/zh_CN/tutorials/styleclip.md"):
        with open(os.path.join(REPO_ROOT, doc), encoding="utf-8") as f:
            lines += [(doc, line) for line in f if "pip install paddlepaddle-gpu" in line]
    assert len(lines) >= 4
    assert [doc for doc, line in lines if '"numpy<2"' not in line] == []

"""Stopping the tools: SIGTERM is one line and exit 143, like Ctrl-C; two extractions of one output exclude each other.

Paddle's import installs a C++ handler that answers SIGTERM with a 20-line "FatalError"
report; the tools answer it like Ctrl-C (``ppgan.utils.signals``): cleanups run, resume
files stay, one line. Every process here is a real script receiving a real signal during
Paddle work.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import paddle
import pytest
from conftest import FIXTURES, REPO_ROOT, SMALL_FLAGS, listing

from ppgan.models.generators import StyleGANv2Generator
from ppgan.styleclip.extract import lock_path, output_lock
from ppgan.styleclip.stats import collect_statistics, save_statistics_files
from ppgan.utils import locks
from ppgan.utils.errors import UserError

PREDICTOR = os.path.join(REPO_ROOT, "ppgan", "apps", "styleganv2clip_predictor.py")
GETF = os.path.join(REPO_ROOT, "styleclip_getf.py")
FITTING = os.path.join(REPO_ROOT, "applications", "tools", "styleganv2fitting.py")
APP = os.path.join(REPO_ROOT, "applications", "tools", "styleclip_app.py")
CHANNELS = {4: 32, 8: 32, 16: 16, 32: 8}
MODEL_FLAGS = ["--size", "32", "--style_dim", "64", "--n_mlp", "2", "--channels", "4:32,8:32,16:16,32:8"]
STOPS = {signal.SIGTERM: ("terminated", 143), signal.SIGINT: ("interrupted", 130)}
START_SECONDS = 300  # a tool's start (Paddle's import, loading a 605 MB CLIP) on a loaded 2-core machine


def read(path):
    with open(path) as f:
        return f.read()


def read_json(path):
    with open(path) as f:
        return json.load(f)


def script_env(**extra):
    """The tests' environment for a script of this checkout, ``extra`` added."""
    return dict(os.environ, PYTHONPATH=REPO_ROOT, GRADIO_ANALYTICS_ENABLED="False", **extra)


def start(command, log, **env):
    """Start ``command`` with stderr to the file ``log`` (read while it runs) and stdout to ``log``.out."""
    with open(f"{log}.out", "w") as out, open(log, "w") as err:
        return subprocess.Popen(command, cwd=REPO_ROOT, stdout=out, stderr=err, env=script_env(**env))


def wait_for(condition, process, what, log):
    deadline = time.monotonic() + START_SECONDS
    while not condition():
        assert process.poll() is None, f"the process ended before {what}: {read(log)[-2000:]}"
        assert time.monotonic() < deadline, f"no {what} after {START_SECONDS} s"
        time.sleep(0.05)


def stop(process, signum, log):
    """Send ``signum``, wait; (exit status, stderr lines: tqdm's carriage returns split too)."""
    process.send_signal(signum)
    status = process.wait(timeout=120)
    text = read(log)
    return status, [line for line in text.replace("\r", "\n").splitlines() if line.strip()]


def assert_one_stop_line(lines, signum):
    """The stop is the last line, said once, with no Paddle report or Python traceback."""
    word, _ = STOPS[signum]
    text = "\n".join(lines)
    assert "FatalError" not in text and "Traceback" not in text and "C++" not in text, text[-3000:]
    assert lines[-1] == word and lines.count(word) == 1, text[-3000:]


# --- extraction -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory, random_clip_file):
    """A tiny generator (168 style channels), its S samples and statistics, and the random CLIP."""
    root = tmp_path_factory.mktemp("stops")
    paddle.seed(0)
    generator = StyleGANv2Generator(32, 64, 2, channels=CHANNELS)
    generator.eval()
    paths = {name: str(root / f"{name}.pdparams") for name in ("generator", "S", "stats")}
    paddle.save(generator.state_dict(), paths["generator"])
    stats, s_codes = collect_statistics(generator, 200, 8, 100, seed=0)
    save_statistics_files(paths["S"], paths["stats"], s_codes, stats.mean, stats.std())
    return dict(paths, clip=random_clip_file, root=root)


def extract_command(files, output, channels="30:34", num_images="4"):
    return [sys.executable, PREDICTOR, "extract", "--weight_path", files["generator"], *MODEL_FLAGS,
            "--S_path", files["S"], "--stat_path", files["stats"], "--clip_weight_path", files["clip"],
            "--num_images", num_images, "--batch_size", "4", "--channel_range", channels, "--output", str(output),
            "--checkpoint_every", "1"]


@pytest.fixture(scope="module")
def uninterrupted(files):
    """Bytes of the output of an uninterrupted run."""
    output = files["root"] / "uninterrupted.pdparams"
    result = subprocess.run(extract_command(files, output), cwd=REPO_ROOT, capture_output=True, text=True,
                            env=script_env(), check=False)
    assert result.returncode == 0, result.stderr
    return output.read_bytes()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_extraction_says_one_line_keeps_its_resume_file_and_resumes(files, uninterrupted, tmp_path,
                                                                               signum):
    output = tmp_path / "fs3.pdparams"
    resume, log = f"{output}.ckpt.npz", str(tmp_path / "log")
    process = start(extract_command(files, output), log)
    wait_for(lambda: os.path.exists(resume), process, "resume file", log)
    status, lines = stop(process, signum, log)
    assert status == STOPS[signum][1]
    assert_one_stop_line(lines, signum)
    # Only the documented resume state is left: no output, no lock, no temporary.
    assert listing(tmp_path) == ["fs3.pdparams.ckpt.npz", "log", "log.out"]
    result = subprocess.run(extract_command(files, output), cwd=REPO_ROOT, capture_output=True, text=True,
                            env=script_env(), check=False)
    assert result.returncode == 0, result.stderr
    assert "resuming from" in result.stderr
    assert output.read_bytes() == uninterrupted
    assert listing(tmp_path) == ["fs3.pdparams", "log", "log.out"]


def test_a_second_extraction_of_the_same_output_is_refused_naming_the_first(files, tmp_path):
    output = tmp_path / "fs3.npy"
    log = str(tmp_path / "first.log")
    first = start(extract_command(files, output, channels="0:168", num_images="8"), log)
    wait_for(lambda: os.path.exists(f"{output}.ckpt.npz"), first, "resume file", log)
    second = subprocess.run(extract_command(files, output, channels="0:168", num_images="8"), cwd=REPO_ROOT,
                            capture_output=True, text=True, env=script_env(), check=False)
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 2 and "Traceback" not in second.stderr, second.stderr
    assert lines[-1].startswith("error: another extraction is writing") and f"process {first.pid} " in lines[-1]
    assert f"{output}.lock" in lines[-1] and "--output" in lines[-1]
    assert first.poll() is None, "the first run stopped"
    # Killed outright, the first run leaves its lock; it blocks nobody: --merge takes it over (and finds no parts).
    first.kill()
    first.wait()
    assert os.path.exists(f"{output}.lock")
    merge = subprocess.run([sys.executable, PREDICTOR, "extract", "--merge", "--output", str(output)], cwd=REPO_ROOT,
                           capture_output=True, text=True, env=script_env(), check=False)
    assert merge.returncode == 2 and "expected the part files of one run" in merge.stderr, merge.stderr
    assert not os.path.exists(f"{output}.lock")


@pytest.fixture
def other_process():
    """A running process that is not this one: (pid, its lock owner record)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield process.pid, {"host": socket.gethostname(), "pid": process.pid,
                        "started": locks._start_ticks(process.pid), "since": "2024-01-01 00:00:00"}
    process.kill()
    process.wait()


def plant_lock(path, owner):
    with open(path, "w") as f:
        json.dump(owner, f)


def test_lock_rules_siblings_run_side_by_side_others_are_refused(tmp_path, other_process):
    output = str(tmp_path / "fs3.pdparams")
    pid, owner = other_process
    plant_lock(lock_path(output, 1, 2), owner)  # rank 1 of a 2-rank launch is running
    with output_lock(output, 0, 2):  # its sibling rank 0 runs beside it
        assert read_json(lock_path(output, 0, 2))["pid"] == os.getpid()
    assert not os.path.exists(lock_path(output, 0, 2))
    for rank, world in ((1, 2), (0, 1), (2, 3)):  # rank 1 again, a single process, a 3-rank launch
        with (pytest.raises(UserError, match=rf"process {pid} on .* holds .*rank1-of-2\.lock") as info,
              output_lock(output, rank, world)):
            pass
        assert info.value.as_flags().endswith("or pass another --output")
        assert not os.path.exists(lock_path(output, rank, world)) or (rank, world) == (1, 2)


def test_a_lock_whose_process_is_gone_or_reused_or_stale_is_taken_over(tmp_path, other_process):
    output = str(tmp_path / "fs3.pdparams")
    _, owner = other_process
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    elsewhere = dict(owner, host="another-machine")
    stale = {"dead pid": dict(owner, pid=int(finished.stdout)),
             "reused pid": dict(owner, started=owner["started"] - 1),
             "unreadable": "{", "other machine, not refreshed": elsewhere}
    for what, content in stale.items():
        path = lock_path(output)
        with open(path, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        if what == "other machine, not refreshed":
            old = time.time() - locks.STALE_SECONDS - 10
            os.utime(path, (old, old))
        with output_lock(output):
            assert read_json(path)["pid"] == os.getpid(), what
        assert not os.path.exists(path), what
    plant_lock(lock_path(output), elsewhere)  # another machine's lock, refreshed: its run is going on
    with pytest.raises(UserError, match="process .* on another-machine"), output_lock(output):
        pass


def test_a_lock_in_a_missing_folder_leaves_no_folder(tmp_path):
    output = tmp_path / "new" / "fs3.pdparams"
    with pytest.raises(KeyboardInterrupt), output_lock(str(output)):
        assert os.path.exists(f"{output}.lock")
        raise KeyboardInterrupt
    assert not (tmp_path / "new").exists()


# --- statistics, fitting, the page ----------------------------------------------------------------------------------


def wait_for_text(log, text, process, error_log=None):
    wait_for(lambda: text in read(log), process, repr(text), error_log or log)


def test_sigterm_stops_the_statistics_in_one_line_and_writes_nothing(small_generator_weights, tmp_path):
    out, log = tmp_path / "out", str(tmp_path / "log")
    process = start([sys.executable, GETF, "--weight_path", small_generator_weights, *SMALL_FLAGS, "--num_samples",
                     "100000000", "--batch_size", "100", "--output_dir", str(out), "--cpu"], log)
    wait_for_text(log, "S statistics", process)
    time.sleep(1.0)  # into the sampling
    status, lines = stop(process, signal.SIGTERM, log)
    assert status == 143
    assert_one_stop_line(lines, signal.SIGTERM)
    assert not out.exists()


def test_sigterm_stops_the_fitting_in_one_line_and_writes_nothing(small_generator_weights, tmp_path):
    out, log = tmp_path / "out", str(tmp_path / "log")
    photo = os.path.join(FIXTURES, "face_psp_input.jpg")
    process = start([sys.executable, FITTING, "--input_image", photo, "--weight_path", small_generator_weights,
                     *SMALL_FLAGS, "--step", "1000000", "--output_path", str(out), "--cpu"], log,
                    PPGAN_MODEL_BASE_URL=(tmp_path / "no_mirror").as_uri())  # LPIPS unavailable: MSE alone
    wait_for_text(log, "fitting:", process)
    time.sleep(1.0)  # into the optimisation
    status, lines = stop(process, signal.SIGTERM, log)
    assert status == 143
    assert_one_stop_line(lines, signal.SIGTERM)
    assert not out.exists()


def test_sigterm_stops_the_page_in_one_line(config_f_32px_files, random_clip_file, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = str(tmp_path / "log")
    process = start([sys.executable, APP, "--weight_path", str(config_f_32px_files / "generator.pdparams"),
                     "--direction_path", str(config_f_32px_files / "fs3.pdparams"), "--clip_weight_path",
                     random_clip_file, "--port", str(port)], log)
    wait_for_text(f"{log}.out", f"127.0.0.1:{port}", process, log)
    status, lines = stop(process, signal.SIGTERM, log)
    assert status == 143
    assert_one_stop_line(lines, signal.SIGTERM)

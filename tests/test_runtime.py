"""The CPU runtime set-up is an explicit call: importing ppgan changes nothing, every entry point makes the call,
and Paddle's start-up noise is filtered from the tools' output while everything else still shows."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import paddle
import pytest
from PIL import Image

from conftest import REPO_ROOT, SMALL_CHANNELS

RUNTIME_VARIABLES = ("OMP_NUM_THREADS", "MKL_DEBUG_CPU_TYPE", "PPGAN_KEEP_MALLOC")
BLOCK_MB = 256

# Measures glibc's behaviour directly: RSS (from /proc) after touching and freeing one large block.
MALLOC_PROBE = textwrap.dedent(f"""
    import ctypes, os
    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    def rss_after_free_mb():
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc.restype = ctypes.c_void_p
        libc.free.argtypes = [ctypes.c_void_p]
        block = libc.malloc({BLOCK_MB} << 20)
        ctypes.memset(block, 1, {BLOCK_MB} << 20)
        before = rss_mb()
        libc.free(block)
        return before - rss_mb()
""")


def clean_env():
    """This environment without the variables the set-up writes (the subprocess starts as a user's would)."""
    env = {k: v for k, v in os.environ.items() if k not in RUNTIME_VARIABLES}
    env["PYTHONPATH"] = REPO_ROOT
    return env


def run_python(code, *args, cwd=REPO_ROOT):
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=clean_env(), capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


IMPORT_EVERYTHING = MALLOC_PROBE + textwrap.dedent("""
    import importlib, json, os, pkgutil, sys
    import_light = dict(os.environ)
    import ppgan, ppgan.utils.errors, ppgan.utils.runtime, ppgan.apps
    light_changed = dict(os.environ) != import_light
    paddle_loaded = "paddle" in sys.modules
    if sys.argv[1] == "configure":  # the control: the set-up alone, as seen by the same probe
        ppgan.configure_cpu_runtime()
        print(json.dumps(dict(omp=os.environ.get("OMP_NUM_THREADS"), freed_mb=rss_after_free_mb())))
        sys.exit()
    import numpy, paddle, clip, gradio  # their own import-time changes are not ours; numpy before paddle, as in
    # the tools (under Paddle 2.6, zlib first loaded after paddle breaks clip's vocabulary file)
    before = dict(os.environ)
    modules = [m.name for m in pkgutil.walk_packages(ppgan.__path__, "ppgan.")]
    for name in modules:
        importlib.import_module(name)
    from ppgan.apps import StyleGANv2Predictor, StyleGANv2ClipPredictor, Pixel2Style2PixelPredictor
    after = dict(os.environ)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    print(json.dumps(dict(light_changed=light_changed, paddle_loaded=paddle_loaded, changed=changed,
                          modules=len(modules), omp=after.get("OMP_NUM_THREADS"), freed_mb=rss_after_free_mb())))
""")


def test_importing_ppgan_and_every_submodule_changes_nothing():
    plain = run_python(IMPORT_EVERYTHING, "import_only")
    assert not plain["light_changed"] and not plain["paddle_loaded"]  # import ppgan alone: no env, no paddle
    assert plain["modules"] >= 30
    assert plain["changed"] == []
    assert plain["omp"] == "1"  # what Paddle itself sets when nothing asked for more
    assert plain["freed_mb"] > 0.9 * BLOCK_MB  # glibc's default: a large freed block goes back to the kernel
    # the same probe sees the set-up when it is asked for: the probe can tell the difference
    configured = run_python(IMPORT_EVERYTHING, "configure")
    assert configured["omp"] == str(len(os.sched_getaffinity(0)))
    assert configured["freed_mb"] < 0.1 * BLOCK_MB


# Runs one entry point with --help; stops it at its first ``import paddle`` (the state the set-up must have
# reached by then), or reports the state at its end when it never imports Paddle.
ENTRY_POINT_PROBE = MALLOC_PROBE + textwrap.dedent("""
    import json, os, runpy, sys
    class PaddleImported(Exception):
        pass
    class StopAtPaddle:
        def find_spec(self, name, path=None, target=None):
            if name == "paddle":
                raise PaddleImported
    sys.meta_path.insert(0, StopAtPaddle())
    kind, target = sys.argv[1:3]
    sys.argv = [target] + sys.argv[3:]
    try:
        if kind == "module":
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
            runpy.run_path(target, run_name="__main__")
    except (PaddleImported, SystemExit):
        pass
    print(json.dumps(dict(omp=os.environ.get("OMP_NUM_THREADS"), freed_mb=rss_after_free_mb())))
""")

SCRIPTS = sorted(os.path.relpath(os.path.join(folder, name), REPO_ROOT)
                 for folder in ("applications/tools", "tools", "benchmark")
                 for name in os.listdir(os.path.join(REPO_ROOT, folder)) if name.endswith(".py")) + ["styleclip_getf.py"]
MODULE_MAINS = ["ppgan.apps.styleganv2clip_predictor", "ppgan.apps.extract_cli"]
SERVERS = ("applications/tools/styleclip_app.py",)  # keep glibc's memory release


@pytest.mark.parametrize("kind,target", [("path", s) for s in SCRIPTS] + [("module", m) for m in MODULE_MAINS])
def test_every_entry_point_sets_up_the_runtime_before_paddle(kind, target):
    state = run_python(ENTRY_POINT_PROBE, kind, target, "--help")
    assert state["omp"] == str(len(os.sched_getaffinity(0)))
    if target in SERVERS:
        assert state["freed_mb"] > 0.9 * BLOCK_MB
    else:
        assert state["freed_mb"] < 0.1 * BLOCK_MB


def test_noise_filter_drops_only_paddles_known_lines():
    code = textwrap.dedent("""
        import os, sys, warnings
        from ppgan.utils.runtime import paddle_noise_filtered
        with paddle_noise_filtered():
            print("WARNING: OMP_NUM_THREADS set to 2, not 1. The computation speed ...", file=sys.stderr)
            print("PLEASE USE OMP_NUM_THREADS WISELY.", file=sys.stderr)
            os.write(2, b"W1202 11:22:33.107149 14534 eager_utils.cc:3584] Paddle static graph(PIR) not support "
                        b"input out tensor for now!!!!!\\n")
            os.write(2, b"E1202 real C++ error\\n")
            warnings.warn("No ccache found. Please be aware")
            warnings.warn("a real warning")
            print("a Python line", file=sys.stderr)
        print("after the block", file=sys.stderr)
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=clean_env(), capture_output=True,
                            text=True, timeout=60)
    lines = result.stderr.splitlines()
    assert [line for line in lines if "warnings.warn" not in line] == [
        "E1202 real C++ error", "<string>:11: UserWarning: a real warning", "a Python line", "after the block"]


def test_help_and_a_small_run_print_none_of_paddles_noise(tmp_path):
    paddle.seed(0)
    from ppgan.models.generators import StyleGANv2Generator

    paddle.save(StyleGANv2Generator(64, 64, 2, channels=SMALL_CHANNELS).state_dict(), str(tmp_path / "g.pdparams"))
    tools = os.path.join(REPO_ROOT, "applications", "tools")
    env = dict(clean_env(), PPGAN_HOME=str(tmp_path / "home"))  # a cold compiled-program cache: the export runs
    sample = ["--weight_path", str(tmp_path / "g.pdparams"), "--size", "64", "--style_dim", "64", "--n_mlp", "2",
              "--channels", "4:32,8:32,16:16,32:16,64:8", "--n_row", "1", "--n_col", "2",
              "--output_path", str(tmp_path / "out"), "--cpu"]
    for tool, args in (("styleganv2clip.py", ["--help"]), ("styleganv2.py", sample)):
        result = subprocess.run([sys.executable, os.path.join(tools, tool), *args], cwd=REPO_ROOT, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        for marker in ("OMP_NUM_THREADS", "ccache", "PIR", "Warning", "WARNING"):
            assert marker not in result.stderr, result.stderr
    assert np.asarray(Image.open(tmp_path / "out" / "sample.png")).shape == (64, 128, 3)

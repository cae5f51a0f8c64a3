"""PaddleGAN's own StyleGAN2 render time, measured with PaddleGAN's code in a child process.

Benchmarks print it next to ours, measured in the same run on the same machine. Its code is
never copied here: the user points at a checkout of PaddlePaddle/PaddleGAN from GitHub
(``--paddlegan DIR`` or the ``PADDLEGAN_ROOT`` environment variable). Run alone, it prints
PaddleGAN's render time::

    python benchmark/paddlegan.py --paddlegan DIR [--size 1024] [--batch 1]

The child (the same Python interpreter, ``sys.executable``) loads only the files the
generator needs: ``ppgan/models/generators/{generator_styleganv2,builder}.py``,
``ppgan/modules/{equalized,fused_act,upfirdn2d}.py`` and ``ppgan/utils/registry.py``.
It registers empty package modules for ``ppgan``, ``ppgan.models``,
``ppgan.models.generators``, ``ppgan.modules`` and ``ppgan.utils`` whose ``__path__`` is
the checkout's folder, so PaddleGAN's ``__init__.py`` files (which import dozens of
optional packages) never run and our own ``ppgan`` package is never in the way. PaddleGAN's
files are used as they are, with no compatibility shim (they run on Paddle 2.6 and 3.x).

The child inherits the parent's environment: benchmarks call ``configure_cpu_runtime()``
before importing paddle, so ``OMP_NUM_THREADS`` and ``MKL_DEBUG_CPU_TYPE`` are the same for
both (``threads`` overrides ``OMP_NUM_THREADS`` for the child only). The glibc settings of
``configure_cpu_runtime(keep_freed_memory=True)`` are per process, so the child gets the same
ones through glibc's environment variables (unless ``PPGAN_KEEP_MALLOC=1``): PaddleGAN runs
with every setting ours has (it renders 1.3-1.8x faster with them), and the ratios printed
are the conservative ones.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # the child inherits its settings (and so do the benchmarks importing this module)

NOT_MEASURED = ("PaddleGAN not measured: point at a checkout of PaddlePaddle/PaddleGAN (GitHub) with "
                "--paddlegan DIR or PADDLEGAN_ROOT")

_CHILD = r"""
import json, os, sys, time, types
root, size, batch, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for name in ("ppgan", "ppgan.models", "ppgan.models.generators", "ppgan.modules", "ppgan.utils"):
    package = types.ModuleType(name)
    package.__path__ = [os.path.join(root, *name.split("."))]
    sys.modules[name] = package
import importlib
import paddle
module = importlib.import_module("ppgan.models.generators.generator_styleganv2")
assert os.path.realpath(module.__file__).startswith(os.path.realpath(root)), module.__file__
paddle.seed(0)
generator = module.StyleGANv2Generator(size, 512, 8)
generator.eval()
z = paddle.randn([batch, 512])
best = float("inf")
with paddle.no_grad():
    for run in range(repeats + 1):  # run 0 warms up
        start = time.perf_counter()
        image, _ = generator([z], input_is_latent=False, randomize_noise=False)
        if run:
            best = min(best, time.perf_counter() - start)
print(json.dumps({"seconds_per_image": best / batch, "paddle": paddle.__version__}))
"""


def paddlegan_root(path=None):
    """The PaddleGAN checkout: ``path`` if given, else ``$PADDLEGAN_ROOT``, else None."""
    root = path or os.environ.get("PADDLEGAN_ROOT")
    if not root:
        return None
    generator = os.path.join(root, "ppgan", "models", "generators", "generator_styleganv2.py")
    if not os.path.isfile(generator):
        raise FileNotFoundError(f"{root} is not a PaddleGAN checkout: {generator} is missing")
    return os.path.abspath(root)


def paddlegan_render_seconds(root, size=1024, batch=1, repeats=2, threads=None):
    """Seconds per image of PaddleGAN's ``StyleGANv2Generator(size, 512, 8)`` (random weights).

    One call ``generator([z], input_is_latent=False, randomize_noise=False)`` under
    ``paddle.no_grad()`` for ``z`` of shape [batch, 512]: one warm-up, then the best of
    ``repeats``, divided by ``batch``. Runs in a child process (see the module docstring).
    """
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    if env.get("PPGAN_KEEP_MALLOC") != "1":  # as configure_cpu_runtime's mallopt calls
        env.update(MALLOC_MMAP_MAX_="0", MALLOC_TRIM_THRESHOLD_=str(2**31 - 1))
    done = subprocess.run([sys.executable, "-c", _CHILD, root, str(size), str(batch), str(repeats)],
                          env=env, cwd=root, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"PaddleGAN render failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return float(json.loads(lines[-1])["seconds_per_image"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paddlegan", default=None, help="PaddleGAN checkout (or PADDLEGAN_ROOT)")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    root = paddlegan_root(args.paddlegan)
    if root is None:
        sys.exit(NOT_MEASURED)
    seconds = paddlegan_render_seconds(root, args.size, args.batch, args.repeats)
    print(f"PaddleGAN's render, {args.size} px, batch {args.batch}: {seconds:.2f} s per image "
          f"(OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']})")


if __name__ == "__main__":
    main()

"""Reading a 1024 px generator file: Paddle's unrestricted ``paddle.load`` against the project's loader.

Writes a random config-f 1024 px generator (30.4 M parameters, about 116 MB) with ``paddle.save``
and times, alternating, the best of ``--repeats`` reads (file in the page cache) of:
``paddle.load`` (what the tools used to call; it runs any code the pickle names),
``load_pdparams`` (the whitelist unpickler, nothing executed) and the whole ``load_stylegan2``
(read + architecture + strict load into the model).

    python benchmark/bench_loading.py [--repeats 5]
"""
import argparse
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

import paddle  # noqa: E402

from ppgan.models.generators import StyleGANv2Generator  # noqa: E402
from ppgan.models.loading import load_stylegan2  # noqa: E402
from ppgan.utils.checkpoint import load_pdparams  # noqa: E402


def processor():
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return names[0] if names else platform.processor()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "stylegan2-random-1024.pdparams")
        paddle.seed(0)
        paddle.save(StyleGANv2Generator(1024, 512, 8, channel_multiplier=2).state_dict(), path)
        readers = {"paddle.load (unrestricted)": lambda: paddle.load(path),
                   "load_pdparams (whitelist)": lambda: load_pdparams(path),
                   "load_stylegan2 (read + build + load)": lambda: load_stylegan2(weight_path=path)}
        best = {name: float("inf") for name in readers}
        for _ in range(args.repeats):  # alternate, so that a noisy moment costs every reader alike
            for name, read in readers.items():
                start = time.perf_counter()
                read()
                best[name] = min(best[name], time.perf_counter() - start)
        print(f"{processor()}, {os.cpu_count()} cores, Paddle {paddle.__version__}; "
              f"{os.path.getsize(path) / 1e6:.0f} MB file, best of {args.repeats}")
        for name, seconds in best.items():
            print(f"  {name:40s} {seconds:6.3f} s")


if __name__ == "__main__":
    main()

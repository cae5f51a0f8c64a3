"""Time and memory of the statistics step (styleclip_getf.py) on a random-weight generator.

    python benchmark/bench_stats.py [--num_samples 100000] [--batch_size 1000] [--size 1024]

Builds the generator (ffhq-config-f shape by default, random weights), streams
``--num_samples`` S codes into the statistics, keeps 2000 of them and writes
both output files to a temporary folder. Prints seconds per stage, samples/s,
the time extrapolated to 100,000 samples when fewer were drawn, and the peak
RSS of the process (``resource.getrusage``). PaddleGAN's script: 11 minutes, 9.9 GB.
"""
import argparse
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from ppgan.utils.runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # before anything imports paddle

import paddle  # noqa: E402

from ppgan.models.generators import StyleGANv2Generator  # noqa: E402
from ppgan.styleclip.stats import collect_statistics, save_statistics_files  # noqa: E402

FULL_RUN = 100000


def peak_rss_gb():
    """Peak resident set size of this process in GB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_samples", type=int, default=FULL_RUN)
    parser.add_argument("--num_saved", type=int, default=2000)
    parser.add_argument("--batch_size", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--truncation_cutoff", type=int, default=None)
    args = parser.parse_args()

    start = time.perf_counter()
    paddle.seed(0)
    generator = StyleGANv2Generator(args.size, 512, 8, channel_multiplier=2)
    generator.eval()
    build = time.perf_counter() - start

    start = time.perf_counter()
    stats, s_codes = collect_statistics(generator, args.num_samples, args.num_saved, args.batch_size, seed=1234,
                                        truncation=0.7, truncation_cutoff=args.truncation_cutoff)
    sampling = time.perf_counter() - start

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        save_statistics_files(os.path.join(out, "S.pdparams"), os.path.join(out, "stats.pdparams"),
                              s_codes, stats.mean, stats.std(ddof=1))
    saving = time.perf_counter() - start

    rate = args.num_samples / sampling
    print(f"generator {args.size}: {sum(generator.channels_lst)} channels in {len(s_codes)} layers, "
          f"batch {args.batch_size}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"build {build:.1f} s, sampling {args.num_samples} in {sampling:.1f} s ({rate:.0f} samples/s), "
          f"saving {saving:.2f} s, peak RSS {peak_rss_gb():.2f} GB")
    if args.num_samples < FULL_RUN:
        print(f"extrapolated to {FULL_RUN} samples: {FULL_RUN / rate + saving:.1f} s (sampling + saving)")


if __name__ == "__main__":
    main()

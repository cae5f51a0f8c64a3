"""Shared test setup: the tools' CPU runtime, an isolated weight cache, small random generators."""
import os

from ppgan.utils.runtime import configure_cpu_runtime

configure_cpu_runtime()  # as the tools run, before paddle loads

import paddle  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.path.join(REPO_ROOT, "tests", "fixtures")

SMALL_CHANNELS = {4: 32, 8: 32, 16: 16, 32: 16, 64: 8}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: full-size checks that take minutes (run with -m slow)")


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Keep downloads and compiled programs of the tests out of the user's ~/.cache/ppgan."""
    home = str(tmp_path_factory.mktemp("ppgan_home"))
    previous = os.environ.get("PPGAN_HOME")
    os.environ["PPGAN_HOME"] = home
    yield home
    if previous is None:
        os.environ.pop("PPGAN_HOME", None)
    else:
        os.environ["PPGAN_HOME"] = previous


@pytest.fixture
def small_generator():
    """A random 64 px generator with narrow layers (fast), in eval mode."""
    from ppgan.models.generators import StyleGANv2Generator

    paddle.seed(0)
    generator = StyleGANv2Generator(64, 64, 2, channels=SMALL_CHANNELS)
    generator.eval()
    return generator

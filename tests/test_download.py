"""The weight resolver against a real local HTTP server."""
import functools
import hashlib
import http.server
import os
import socket
import threading
import types

import pytest

from conftest import raises_user_error

from ppgan.models import zoo
from ppgan.utils import download
from ppgan.utils.download import Weight, resolve_weights
from ppgan.utils.errors import UserError

FFHQ = zoo.find_model("stylegan2", "ffhq-config-f").weights
PAYLOAD = os.urandom(3 * download.CHUNK + 123)
MD5 = hashlib.md5(PAYLOAD).hexdigest()
TINY = Weight("tiny.pdparams", MD5, "http://127.0.0.1:9/tiny.pdparams")
TINY_NO_MD5 = Weight("tiny.pdparams", None, "http://127.0.0.1:9/tiny.pdparams")


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files, counts requests, and cuts short the first ``truncate[path]`` responses of a path."""

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.server.truncate.get(self.path, 0) > 0:
            self.server.truncate[self.path] -= 1
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 100)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache in PPGAN_HOME, tmp_path as the current directory, fast retries."""
    home = tmp_path / "cache"
    monkeypatch.setenv("PPGAN_HOME", str(home))
    monkeypatch.delenv("PPGAN_MODEL_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(download, "BACKOFF", 0.01)
    monkeypatch.setattr(download, "_verified", set())
    return home


@pytest.fixture
def server(tmp_path, cache, monkeypatch):
    root = tmp_path / "www"
    (root / "models").mkdir(parents=True)
    (root / "models" / "tiny.pdparams").write_bytes(PAYLOAD)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    httpd.requests = []
    httpd.truncate = {}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/models/"
    monkeypatch.setenv("PPGAN_MODEL_BASE_URL", base)
    yield types.SimpleNamespace(base=base, models=root / "models", requests=httpd.requests, truncate=httpd.truncate)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def cache_listing(home):
    return sorted(os.listdir(home)) if home.exists() else []


def test_download_then_cache(server, cache, tmp_path):
    path = resolve_weights(TINY)
    assert path == str(cache / "tiny.pdparams")
    with open(path, "rb") as f:
        assert f.read() == PAYLOAD
    assert server.requests == ["/models/tiny.pdparams"]

    assert resolve_weights(TINY) == path
    assert len(server.requests) == 1
    assert cache_listing(cache) == ["tiny.pdparams", "tiny.pdparams.size"]
    assert (cache / "tiny.pdparams.size").read_text() == f"{len(PAYLOAD)}\n"
    assert not (tmp_path / "pretrained_models").exists()


def test_cached_md5_checked_once_per_process(server, cache, monkeypatch):
    cache.mkdir()
    (cache / "tiny.pdparams").write_bytes(PAYLOAD)
    calls = []
    real = download._file_md5
    monkeypatch.setattr(download, "_file_md5", lambda p: calls.append(p) or real(p))
    resolve_weights(TINY)
    resolve_weights(TINY)
    assert len(calls) == 1
    assert server.requests == []


def test_corrupt_cached_file_is_downloaded_again(server, cache):
    cache.mkdir()
    (cache / "tiny.pdparams").write_bytes(b"damaged")
    path = resolve_weights(TINY)
    with open(path, "rb") as f:
        assert f.read() == PAYLOAD
    assert len(server.requests) == 1


def test_truncated_transfer_leaves_nothing(server, cache):
    server.truncate["/models/tiny.pdparams"] = 100
    with pytest.raises(UserError, match=r"closed after 100 of 1000 bytes"):
        resolve_weights(TINY_NO_MD5)
    assert len(server.requests) == download.RETRIES + 1
    assert cache_listing(cache) == []


def test_truncated_transfer_is_retried(server, cache):
    server.truncate["/models/tiny.pdparams"] = 1
    path = resolve_weights(TINY_NO_MD5)
    with open(path, "rb") as f:
        assert f.read() == PAYLOAD
    assert len(server.requests) == 2


def test_a_cached_file_cut_short_after_its_download_is_fetched_again(server, cache, capsys):
    """Without an md5 the recorded size tells: a cached file shorter than what arrived is fetched again."""
    path = resolve_weights(TINY_NO_MD5)
    with open(path, "r+b") as f:
        f.truncate(len(PAYLOAD) // 2)
    download._verified.clear()  # as in a new process (the fixture restores the set)
    capsys.readouterr()
    assert resolve_weights(TINY_NO_MD5) == path
    with open(path, "rb") as f:
        assert f.read() == PAYLOAD
    assert len(server.requests) == 2
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning")]
    assert warnings == [f"warning: cached {path} is {len(PAYLOAD) // 2} bytes but {len(PAYLOAD)} were downloaded; "
                        "downloading it again"]


@pytest.mark.parametrize("reader", ["pdparams", "torch zip"])
def test_a_cached_file_that_fails_to_read_is_deleted_and_fetched_again_next_run(server, cache, reader):
    """A damaged cached file with no size record (copied in, or cached by an older version): its reader
    says so in one line and deletes it, and the next run downloads it anew."""
    import pickle
    import zipfile

    import numpy as np

    from ppgan.models.formats.torch_files import read_torch_checkpoint
    from ppgan.utils.checkpoint import load_pdparams

    name = "tiny.pdparams" if reader == "pdparams" else "tiny.pt"
    if reader == "pdparams":
        (server.models / name).write_bytes(pickle.dumps({"w": np.arange(4096, dtype=np.float32)}, protocol=4))
        read = load_pdparams
    else:
        with zipfile.ZipFile(server.models / name, "w") as archive:
            archive.writestr("archive/data.pkl", pickle.dumps({"w": list(range(4096))}, protocol=2))
            archive.writestr("archive/version", "3\n")
        read = functools.partial(read_torch_checkpoint, supported="test checkpoints")
    weight = Weight(name, None, "http://127.0.0.1:9/" + name)
    path = resolve_weights(weight)
    intact = read(path)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    os.remove(path + download.SIZE_SUFFIX)
    with raises_user_error(f"{path} .*it was a cached download and was deleted: run the command again to "
                           "download it anew"):
        read(path)
    assert cache_listing(cache) == []
    assert str(read(resolve_weights(weight))) == str(intact)
    assert len(server.requests) == 2


def test_a_damaged_file_of_the_user_is_not_deleted(tmp_path):
    from ppgan.utils.checkpoint import load_pdparams

    damaged = tmp_path / "mine.pdparams"
    damaged.write_bytes(b"\x80\x04\x95")
    with raises_user_error(r"mine.pdparams is not a readable .*download or copy it again, or pass another file"):
        load_pdparams(str(damaged))
    assert damaged.exists()


def test_bad_md5_leaves_nothing(server, cache):
    (server.models / "tiny.pdparams").write_bytes(PAYLOAD[:-1] + bytes([PAYLOAD[-1] ^ 1]))
    with pytest.raises(UserError, match=r"md5 .* instead of " + MD5):
        resolve_weights(TINY)
    assert len(server.requests) == 1
    assert cache_listing(cache) == []


def test_http_404_is_not_retried(server, cache):
    (server.models / "tiny.pdparams").unlink()
    with pytest.raises(UserError, match="HTTP 404"):
        resolve_weights(TINY)
    assert len(server.requests) == 1
    assert cache_listing(cache) == []


def test_offline_error_names_file_url_and_flag(cache, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/models"
    monkeypatch.setenv("PPGAN_MODEL_BASE_URL", base)
    with pytest.raises(UserError) as info:
        resolve_weights(FFHQ, arg="--generator_path")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"could not download stylegan2-ffhq-config-f.pdparams from "
                              f"{base}/stylegan2-ffhq-config-f.pdparams (")
    assert "refused" in message
    assert message.endswith("pass --generator_path PATH")
    assert cache_listing(cache) == []


def test_local_weight_path_wins_without_network(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_fetch", lambda *a: pytest.fail("network used"))
    local = tmp_path / "mine.pdparams"
    local.write_bytes(b"weights")
    assert resolve_weights(FFHQ, str(local)) == str(local)
    assert resolve_weights(None, str(local)) == str(local)
    assert cache_listing(cache) == []


def test_missing_local_path_names_flag(cache):
    with raises_user_error(r"--direction_path nowhere/fs3\.pdparams is not an existing file"):
        resolve_weights(FFHQ, "nowhere/fs3.pdparams", arg="--direction_path")


def test_release_files_come_from_the_registry(cache, monkeypatch):
    """Release names are config names (``release_file``); an unknown one lists the choices."""
    fetched = []
    monkeypatch.setattr(download, "_download", lambda weight, path, flag: fetched.append(weight.file))
    zoo.release_file("lpips", "vgg16")
    zoo.release_file("clip")  # the default CLIP model
    assert fetched == ["vgg16_official.pdparams", "ViT-B-32.pdparams"]
    with pytest.raises(UserError) as info:
        zoo.release_file("stylegan2", "stylegan3")
    message = info.value.as_flags()
    assert "stylegan3" in message and "ffhq-config-f, " in message
    assert "--weight_path" in message and "--weight_path" not in str(info.value)  # the API names the argument


def test_urls(monkeypatch):
    monkeypatch.delenv("PPGAN_MODEL_BASE_URL", raising=False)
    weights = {name: zoo.find_model(kind, name).weights for kind, name in (("stylegan2", "ffhq-config-f"),
                                                                          ("clip", "ViT-B-32"))}
    assert download.weight_url(weights["ffhq-config-f"]) == (
        "https://paddlegan.bj.bcebos.com/models/stylegan2-ffhq-config-f.pdparams")
    clip_url = download.weight_url(weights["ViT-B-32"])
    assert clip_url.startswith("https://bj.bcebos.com/") and clip_url.endswith("ViT-B-32.pdparams")
    monkeypatch.setenv("PPGAN_MODEL_BASE_URL", "file:///mirror/")
    assert download.weight_url(weights["ViT-B-32"]) == "file:///mirror/ViT-B-32.pdparams"


def test_file_mirror(cache, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "tiny.pdparams").write_bytes(PAYLOAD)
    monkeypatch.setenv("PPGAN_MODEL_BASE_URL", mirror.as_uri())
    with open(resolve_weights(TINY), "rb") as f:
        assert f.read() == PAYLOAD


def test_default_cache_dir(monkeypatch):
    monkeypatch.delenv("PPGAN_HOME", raising=False)
    assert download.cache_dir() == os.path.expanduser("~/.cache/ppgan")

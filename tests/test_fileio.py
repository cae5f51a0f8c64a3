"""Outputs complete or absent: atomic files, all-or-nothing sets, stale temporaries, verified compiled exports."""
import os
import subprocess
import sys
import time

import numpy as np
import paddle
import pytest

from ppgan.utils import compiled, fileio
from ppgan.utils.errors import UserError
from ppgan.utils.fileio import atomic_files, atomic_path


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_temporaries_of_dead_processes_are_removed_on_the_next_write(tmp_path):
    host = fileio._HOST
    dead = tmp_path / f".latents.{host}-{_dead_pid()}-abcd1234.tmp.npy"
    dead_dir = tmp_path / f".staging.{host}-{_dead_pid()}-abcd1234.tmp"
    alive = tmp_path / f".latents.{host}-{os.getppid()}-abcd1234.tmp.npy"  # pytest's parent: running
    other_host_old = tmp_path / ".latents.0badc0de-1-abcd1234.tmp.npy"
    other_host_new = tmp_path / ".latents.0badc0de-2-abcd1234.tmp.npy"
    older_version = tmp_path / ".sample.k2j4_x9a.tmp.png"  # tempfile's names before the pid was added
    user_file = tmp_path / ".my.notes.tmp"  # not our pattern
    for path in (dead, alive, other_host_old, other_host_new, older_version, user_file):
        path.write_bytes(b"x")
    dead_dir.mkdir()
    (dead_dir / "src.png").write_bytes(b"x")
    day_ago = time.time() - fileio.STALE_SECONDS - 60
    for path in (other_host_old, older_version):
        os.utime(path, (day_ago, day_ago))
    with atomic_path(str(tmp_path / "out.txt")) as tmp:
        with open(tmp, "w") as f:
            f.write("done")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, other_host_new.name, user_file.name, "out.txt"])


def test_failed_write_leaves_no_folder_and_the_previous_file(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(str(tmp_path / "new" / "deeper" / "file.bin")) as tmp:
            open(tmp, "wb").close()
            raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(str(tmp_path / "kept.txt")) as tmp:
            open(tmp, "w").write("new")
            raise RuntimeError("writer failed")
    assert [p.name for p in tmp_path.iterdir()] == ["kept.txt"] and (tmp_path / "kept.txt").read_text() == "old"


def test_a_set_of_files_appears_together_or_not_at_all(tmp_path, monkeypatch):
    root = tmp_path / "out"
    root.mkdir()
    (root / "a.txt").write_text("old a")
    targets = [root / "a.txt", root / "face_1" / "b.txt", root / "c.txt"]
    real_replace = os.replace
    calls = []

    def replace_failing_on_the_third_file(src, dst):
        if str(dst) == str(targets[2]):
            raise OSError(28, "No space left on device", str(src))
        calls.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", replace_failing_on_the_third_file)
    with pytest.raises(UserError, match=r"^cannot write .*/out/c.txt: No space left on device; free some space"):
        with atomic_files(str(root)) as staged:
            for target in targets:
                with open(staged.path(str(target)), "w") as f:
                    f.write("new " + target.name)
    assert len(calls) >= 2  # a.txt and b.txt were moved before c.txt failed, then put back
    assert sorted(p.name for p in root.iterdir()) == ["a.txt"] and (root / "a.txt").read_text() == "old a"
    monkeypatch.setattr(fileio.os, "replace", real_replace)
    with atomic_files(str(root)) as staged:
        for target in targets:
            with open(staged.path(str(target)), "w") as f:
                f.write("new " + target.name)
    assert [t.read_text() for t in targets] == ["new a.txt", "new b.txt", "new c.txt"]
    assert sorted(p.name for p in root.iterdir()) == ["a.txt", "c.txt", "face_1"]


def test_a_failed_set_in_a_new_folder_removes_the_folder(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_files(str(tmp_path / "new" / "out")) as staged:
            open(staged.path(str(tmp_path / "new" / "out" / "x.png")), "wb").close()
            raise KeyboardInterrupt  # Ctrl-C between renders
    assert list(tmp_path.iterdir()) == []


class _Double(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.linear = paddle.nn.Linear(4, 3)

    def forward(self, x):
        return self.linear(x) * 2.0


def test_a_cut_short_compiled_export_is_exported_again(isolated_cache):
    paddle.seed(0)
    layer = _Double()
    spec = [paddle.static.InputSpec([None, 4], "float32", name="x")]
    exports = []

    def export(prefix):
        exports.append(prefix)
        compiled.export_layer(layer, spec, prefix)

    directory = compiled.cached_export("test-cut-short", "double", export)
    assert compiled.export_complete(directory, "double") and len(exports) == 1
    assert compiled.cached_export("test-cut-short", "double", export) == directory and len(exports) == 1
    params = os.path.join(directory, "double.pdiparams")
    with open(params, "r+b") as f:  # a full disk: Paddle's file silently cut short
        f.truncate(os.path.getsize(params) // 2)
    assert not compiled.export_complete(directory, "double")
    assert compiled.cached_export("test-cut-short", "double", export) == directory and len(exports) == 2
    x = np.ones((2, 4), np.float32)
    out = compiled.run_predictor(compiled.create_cpu_predictor(directory, "double"), {"x": x})[0]
    np.testing.assert_allclose(out, layer(paddle.to_tensor(x)).numpy(), rtol=1e-5)
    os.remove(os.path.join(directory, compiled.MANIFEST))  # an export of an older version, never verified
    compiled.cached_export("test-cut-short", "double", export)
    assert len(exports) == 3 and compiled.export_complete(directory, "double")


def test_a_broken_symlink_as_output_folder_is_named_as_such(tmp_path):
    link = tmp_path / "out"
    os.symlink(tmp_path / "gone", link)
    for folder, where in ((link, ""), (link / "sub", f" (inside {link})")):
        with pytest.raises(UserError) as info:
            fileio.check_writable_dir(str(folder), "--output_path")
        assert str(info.value) == (f"output folder {folder}{where} is a broken symbolic link to {tmp_path / 'gone'}; "
                                   "create its target or pass another --output_path")
    (tmp_path / "gone").mkdir()
    fileio.check_writable_dir(str(link / "sub"), "--output_path")  # a working link is a folder like any other

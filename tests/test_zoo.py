"""The model registry in configs/: every file well formed, the only home of model facts; specs from flags."""
import glob
import os
import re
import urllib.parse

import pytest

from conftest import REPO_ROOT, raises_user_error
from ppgan.models import zoo
from ppgan.utils.download import Weight
from ppgan.utils.errors import UserError

CONFIG_FILES = sorted(glob.glob(os.path.join(REPO_ROOT, "configs", "*.yaml")))
SOURCE_DIRS = ("ppgan", "applications", "tools", "benchmark")


def source_files():
    """Every Python file of the repository outside tests/."""
    files = glob.glob(os.path.join(REPO_ROOT, "*.py"))
    for folder in SOURCE_DIRS:
        files += glob.glob(os.path.join(REPO_ROOT, folder, "**", "*.py"), recursive=True)
    return files


def all_releases():
    return [(config, entry) for config in zoo.registry().values()
            for entry in (config.weights, config.directions, config.stats) if isinstance(entry, Weight)]


@pytest.mark.parametrize("path", CONFIG_FILES, ids=os.path.basename)
def test_every_config_parses_with_well_formed_urls_and_md5s(path):
    import yaml

    with open(path) as f:
        raw = yaml.safe_load(f)  # plain YAML, independent of the registry's reader
    config = zoo.parse_config(path)
    assert config.name == raw["name"] and config.kind == raw["kind"]
    for entry in (config.weights, config.directions, config.stats):
        if entry is None:
            continue
        assert isinstance(entry, Weight), "released configs name downloadable files, not local paths"
        url = urllib.parse.urlsplit(entry.url)
        assert url.scheme == "https" and url.netloc and " " not in entry.url
        assert entry.file in urllib.parse.unquote(entry.url)
        assert entry.md5 is None or re.fullmatch(r"[0-9a-f]{32}", entry.md5)


def test_registry_holds_the_released_models_and_their_links():
    names = {(kind, name) for kind, name in zoo.registry()}
    assert {("stylegan2", "ffhq-config-f"), ("stylegan2", "animeface-512"), ("psp", "ffhq-inversion"),
            ("clip", "ViT-B-32")} <= names
    ffhq = zoo.find_model("stylegan2", "ffhq-config-f")
    assert zoo.find_model("psp", ffhq.inverter).decoder == "ffhq-config-f"
    assert ffhq.stats.md5 == "5aab9c5d5ff938113b9423d720ffe74b"
    for config in zoo.registry().values():  # the links between configs resolve
        if config.inverter:
            zoo.find_model("psp", config.inverter)
        if config.decoder:
            zoo.find_model("stylegan2", config.decoder)
    files = [entry.file for _, entry in all_releases()]
    assert len(files) == len(set(files)), "two configs name the same file"


def test_no_other_table_of_model_facts_in_the_code():
    """URLs, md5s and release file names of models appear in configs/ only."""
    facts = set()
    for _, entry in all_releases():
        facts |= {entry.file, entry.url} | ({entry.md5} if entry.md5 else set())
    url = re.compile(r"https?://")
    offenders = []
    for path in source_files():
        with open(path, encoding="utf-8") as f:
            text = f.read()
        offenders += [f"{os.path.relpath(path, REPO_ROOT)}: URL" for _ in url.finditer(text)]
        offenders += [f"{os.path.relpath(path, REPO_ROOT)}: {fact}" for fact in facts if fact in text]
    assert offenders == []


def test_a_config_error_names_the_file_and_field(tmp_path):
    cases = {
        "name: [1\n": "is not valid YAML at line",
        "name: x\nkind: vae\nweights: {path: g.pdparams}\n": "'kind' 'vae' is not one of",
        "name: x\nweights: {file: g.pdparams, url: ftp://a/g.pdparams, md5: null}\n": "'url' must be",
        "name: x\nweights: {file: g.pdparams, url: https://a/g.pdparams, md5: 123}\n": "'md5' must be",
        "name: x\nweights: {path: g.pdparams}\narchitecture: {size: 48}\n": "size 48 is not a power of 2",
        "name: x\nweights: {path: g.pdparams}\nresolution: 256\n": "unknown fields resolution",
        "name: x y\nweights: {path: g.pdparams}\n": "'name' must be",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.yaml"
        path.write_text(text)
        with pytest.raises(UserError, match=message) as info:
            zoo.parse_config(str(path))
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_specs_from_flags(tmp_path):
    released = zoo.model_spec("stylegan2")
    assert released.name == "ffhq-config-f" and released.weights.file == "stylegan2-ffhq-config-f.pdparams"
    assert ("size", 1024, "{model_type} ffhq-config-f") in released.claims and released.inverter == "ffhq-inversion"

    own = tmp_path / "stylegan2-church-256.pdparams"
    own.write_bytes(b"")
    spec = zoo.model_spec("stylegan2", weight_path=str(own), size=256)
    assert spec.name == "church-256" and spec.weights == str(own) and spec.directions is None
    assert spec.claims == (("size", 256, "{size}"),)
    spec = zoo.model_spec("stylegan2", "animeface-512", str(own), n_mlp=8)  # the file must match both
    assert spec.name == "animeface-512" and spec.weights == str(own)
    assert spec.claims[0] == ("n_mlp", 8, "{n_mlp}") and ("size", 512, "{model_type} animeface-512") in spec.claims
    renamed = tmp_path / "stylegan2-ffhq-config-f.pdparams"  # a release's file name keeps its name and files
    renamed.write_bytes(b"")
    spec = zoo.model_spec("stylegan2", weight_path=str(renamed))
    assert spec.name == "ffhq-config-f" and spec.stats.md5 and spec.claims == ()

    config = tmp_path / "mine.yaml"
    config.write_text("name: cats\nweights: {path: stylegan2-church-256.pdparams}\narchitecture: {size: 256}\n"
                      "styleclip: {directions: {path: fs3.npy}}\n")
    spec = zoo.model_spec("stylegan2", config=str(config))
    assert (spec.name, spec.weights, spec.directions) == ("cats", str(own), str(tmp_path / "fs3.npy"))
    assert spec.claims == (("size", 256, f"{{config}} {config}"),)
    assert hash(spec) == hash(zoo.model_spec("stylegan2", config=str(config)))  # frozen, comparable

    for kwargs, message in [(dict(size=48), "--size 48 is not a power of 2"),
                            (dict(channel_multiplier=0), "--channel_multiplier 0 must be at least 1"),
                            (dict(style_dim=0), "--style_dim 0 must be at least 1"),
                            (dict(channels="4:a"), "--channels '4:a' is not a list"),
                            (dict(model_type="stylegan3"), "unknown --model_type stylegan3; use one of "
                                                           "animeface-512, ffhq-config-f"),
                            (dict(model_type="ffhq-config-f", config=str(config)), "either --config or --model_type"),
                            (dict(weight_path=str(tmp_path / "absent.pdparams")), "is not an existing file"),
                            (dict(config=str(tmp_path / "absent.yaml")), "cannot be read")]:
        with raises_user_error(message):
            zoo.model_spec("stylegan2", **kwargs)
    with pytest.raises(UserError, match="describes a stylegan2 model; this tool needs a psp model"):
        zoo.model_spec("psp", config=str(config))

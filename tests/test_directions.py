"""Global-direction math (relevance, beta, delta_s layout, std scaling, edits) and direction files."""
import numpy as np
import pytest

import paddle
from conftest import raises_user_error

from ppgan.styleclip.directions import (auto_beta, channel_direction, channel_relevance, compute_delta_s,
                                        edit_styles, l2_normalize, load_directions, scale_by_std,
                                        select_channels, split_per_layer, style_channel_count)
from ppgan.utils.errors import UserError

CHANNELS_1024 = [512] * 15 + [256, 256, 256, 128, 128, 128, 64, 64, 64, 32, 32]
STYLE_LAYERS_1024 = [0, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 23, 24]
TORGB_1024 = [1, 4, 7, 10, 13, 16, 19, 22, 25]


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def fs3():
    return unit(np.random.default_rng(0).standard_normal((6048, 512))).astype(np.float32)


def relevance_with(magnitudes, total=200):
    """A relevance vector: the given |r| values with alternating signs, padded with small values."""
    rng = np.random.default_rng(1)
    signs = np.where(np.arange(len(magnitudes)) % 2 == 0, 1.0, -1.0)
    return rng.permutation(np.concatenate([signs * np.array(magnitudes), rng.uniform(-0.05, 0.05, total)]))


def test_layout_counts():
    assert style_channel_count(CHANNELS_1024, STYLE_LAYERS_1024) == 6048
    assert sorted(STYLE_LAYERS_1024 + TORGB_1024) == list(range(26))
    assert sum(CHANNELS_1024[layer] for layer in TORGB_1024) == 3040


def test_relevance_threshold_and_normalisation_match_hand_numpy(fs3):
    delta_t = unit(np.random.default_rng(2).standard_normal(512)).astype(np.float32)
    relevance = channel_relevance(fs3, delta_t)
    np.testing.assert_allclose(relevance, [row @ delta_t for row in fs3], atol=1e-6)

    beta = 0.1
    expected = relevance.copy()
    expected[np.abs(expected) < beta] = 0.0
    expected /= np.abs(relevance).max()
    selected = select_channels(relevance, beta)
    np.testing.assert_allclose(selected, expected, atol=1e-7)
    assert np.abs(selected).max() == pytest.approx(1.0)
    assert 10 < np.count_nonzero(selected) < 6048


def test_beta_keeping_no_channel_states_the_largest_relevance():
    relevance = np.array([0.05, -0.125, 0.02], np.float32)
    with pytest.raises(UserError, match=r"largest \|relevance\| is 0\.1250; pass a beta below 0\.1250"):
        select_channels(relevance, 0.13)
    with pytest.raises(UserError):
        select_channels(np.zeros(4, np.float32), 0.0)
    np.testing.assert_array_equal(select_channels(relevance, 0.125), [0.0, -1.0, 0.0])  # |r| == beta is kept


def test_auto_beta_is_the_largest_keeping_more_than_20_channels():
    assert auto_beta(relevance_with([0.3] * 21)) == 0.29
    assert auto_beta(relevance_with([0.3] * 20 + [0.2])) == 0.2
    assert auto_beta(relevance_with([0.3] * 15 + [0.17] * 6 + [0.165] * 30)) == 0.17
    assert auto_beta(relevance_with([0.3] * 20 + [0.1])) == 0.1


def test_auto_beta_falls_back_to_the_smallest_beta():
    few = relevance_with([0.3] * 20)
    assert auto_beta(few) == 0.1
    assert np.count_nonzero(select_channels(few, auto_beta(few))) == 20
    with pytest.raises(UserError, match="pass a beta below"):
        select_channels(relevance_with([]), auto_beta(relevance_with([])))


def test_split_per_layer_follows_the_s_layout_with_zero_torgb():
    flat = np.arange(1, 6049, dtype=np.float32)
    delta_s = split_per_layer(flat, CHANNELS_1024, STYLE_LAYERS_1024)
    assert [d.shape[0] for d in delta_s] == CHANNELS_1024
    assert all(not delta_s[layer].any() for layer in TORGB_1024)
    np.testing.assert_array_equal(np.concatenate([delta_s[layer] for layer in STYLE_LAYERS_1024]), flat)
    np.testing.assert_array_equal(delta_s[2][:2], [513, 514])  # layer 1 is toRGB: layer 2 starts at row 512
    with pytest.raises(ValueError):
        split_per_layer(flat[:-1], CHANNELS_1024, STYLE_LAYERS_1024)


def test_scale_by_std_multiplies_each_channel():
    rng = np.random.default_rng(3)
    delta_s = [rng.standard_normal(c).astype(np.float32) for c in CHANNELS_1024]
    std = [rng.uniform(0.1, 2.0, c).astype(np.float32) for c in CHANNELS_1024]
    scaled = scale_by_std(delta_s, std)
    for layer in range(26):
        np.testing.assert_allclose(scaled[layer], delta_s[layer] * std[layer], rtol=1e-6)
    with pytest.raises(UserError, match="statistics file"):
        scale_by_std(delta_s, std[:23])


def test_compute_delta_s_and_edit(fs3):
    delta_t = unit(fs3[7] + fs3[600])
    delta_s = compute_delta_s(fs3, delta_t, 0.3, CHANNELS_1024, STYLE_LAYERS_1024)
    relevance = fs3 @ delta_t
    assert delta_s[0][7] == pytest.approx(relevance[7] / np.abs(relevance).max())
    assert delta_s[2][600 - 512] != 0 and delta_s[1].sum() == 0
    std = [np.full(c, 2.0, np.float32) for c in CHANNELS_1024]
    scaled = compute_delta_s(fs3, delta_t, 0.3, CHANNELS_1024, STYLE_LAYERS_1024, channel_std=std)
    np.testing.assert_allclose(scaled[0], 2 * delta_s[0])

    styles = [np.ones((2, c), np.float32) for c in CHANNELS_1024]
    edited = edit_styles(styles, delta_s, 4.1)
    np.testing.assert_allclose(edited[0], 1 + 4.1 * delta_s[0][None].repeat(2, 0), rtol=1e-6)
    edited_tensor = edit_styles([paddle.to_tensor(s) for s in styles], delta_s, -2.0)
    assert isinstance(edited_tensor[0], paddle.Tensor)
    np.testing.assert_allclose(edited_tensor[2].numpy(), 1 - 2.0 * delta_s[2][None].repeat(2, 0), rtol=1e-6)


def test_channel_direction_matches_hand_numpy():
    rng = np.random.default_rng(4)
    plus, minus = rng.standard_normal((2, 3, 100, 512)).astype(np.float32)
    expected = np.stack([unit(np.mean([unit(unit(p) - unit(m)) for p, m in zip(plus[c], minus[c])], axis=0))
                         for c in range(3)])
    np.testing.assert_allclose(channel_direction(plus, minus), expected, atol=1e-6)

    scaled_plus = plus * rng.uniform(0.5, 3.0, (3, 100, 1)).astype(np.float32)  # CLIP norms do not matter
    np.testing.assert_allclose(channel_direction(scaled_plus, minus), expected, atol=1e-5)

    dead = channel_direction(plus[:1], plus[:1])  # identical renders: a zero row, not NaN
    assert not np.isnan(dead).any() and not dead.any()
    assert not np.isnan(l2_normalize(np.zeros((2, 512), np.float32))).any()


def test_paddlegan_direction_file(tmp_path, fs3):
    path = str(tmp_path / "directions.pdparams")
    paddle.save(paddle.to_tensor(fs3), path)
    np.testing.assert_array_equal(load_directions(path, CHANNELS_1024, STYLE_LAYERS_1024), fs3)

    paddle.save(paddle.to_tensor(fs3[:5376]), path)
    with pytest.raises(UserError, match="has 5376 rows, the generator has 6048"):
        load_directions(path, CHANNELS_1024, STYLE_LAYERS_1024)
    paddle.save({"directions": paddle.to_tensor(fs3)}, path)
    with pytest.raises(UserError, match="holds a dict"):
        load_directions(path, CHANNELS_1024, STYLE_LAYERS_1024)


def test_official_fs3_npy_is_zero_filled_to_the_full_layout(tmp_path, fs3):
    path = str(tmp_path / "fs3.npy")
    np.save(path, fs3[:5376].astype(np.float64))
    loaded = load_directions(path, CHANNELS_1024, STYLE_LAYERS_1024)
    assert loaded.shape == (6048, 512) and loaded.dtype == np.float32
    np.testing.assert_allclose(loaded[:5376], fs3[:5376])
    assert not loaded[5376:].any()
    delta_s = split_per_layer(loaded[:, 0], CHANNELS_1024, STYLE_LAYERS_1024)
    assert delta_s[15].any() and not any(delta_s[layer].any() for layer in (17, 18, 20, 21, 23, 24))


@pytest.mark.parametrize("rows, columns", [(5000, 512), (6100, 512), (6048, 768)])
def test_wrong_direction_shapes_are_user_errors(tmp_path, rows, columns):
    path = str(tmp_path / "fs3.npy")
    np.save(path, np.zeros((rows, columns), np.float32))
    with pytest.raises(UserError, match="pass"):
        load_directions(path, CHANNELS_1024, STYLE_LAYERS_1024)


def test_missing_direction_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_directions(str(tmp_path / "none.pdparams"), CHANNELS_1024, STYLE_LAYERS_1024)


def test_auto_beta_that_keeps_no_channel_says_what_auto_chose():
    from ppgan.styleclip.edit import edit_direction

    delta_t = np.zeros(512, np.float32)
    delta_t[0] = 1.0
    fs3 = np.zeros((4, 512), np.float32)
    fs3[:, 0], fs3[:, 1] = 0.05, 1.0  # |relevance| 0.05 for every channel: below the rule's lowest beta, 0.10
    with raises_user_error(r"^--beta_threshold auto chose 0.1, the rule's lowest .* keeps no style channel: the "
                           r"largest \|relevance\| is 0.0500; pass a number below 0.0500 with --beta_threshold"):
        edit_direction(fs3, delta_t, "auto", [4, 3], [0])
    assert edit_direction(fs3, delta_t, 0.04, [4, 3], [0]).moved == 4

"""StyleGAN2 generator (config-f) with its StyleSpace exposed.

Parameter names and shapes equal PaddleGAN's released ``.pdparams`` files.
The synthesis network is a list of 26 style layers for 1024 px (``style_layers_all``):
conv1, to_rgb1, then (upsampling conv, conv, to_rgb) per resolution 8..size.
Each layer takes its own style vector, so an image is a function of the
StyleSpace code S = [s_0, ..., s_25] (``style_affine`` maps W or W+ to S).
"""
import math
import random

import numpy as np
import paddle
import paddle.nn as nn

from ...modules.equalized import EqualLinear, FusedLeakyReLU, PixelNorm, fused_leaky_relu
from ...modules.modulated_conv import ModulatedConv2D, Upsample

MEAN_LATENT_SAMPLES = 4096  # z whose mapped mean is the truncation centre of sampling and statistics


def default_channels(channel_multiplier=2):
    """Width per resolution of config-f."""
    cm = channel_multiplier
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm,
            256: 64 * cm, 512: 32 * cm, 1024: 16 * cm}


class ConstantInput(nn.Layer):
    """Learned constant ``input`` [1, C, 4, 4], repeated over the batch."""

    def __init__(self, channels, size=4):
        super().__init__()
        self.input = self.create_parameter([1, channels, size, size],
                                           default_initializer=nn.initializer.Normal(0.0, 1.0))

    def forward(self, like):
        """Repeat to the batch size of ``like`` [B, ...] (works in static graphs too)."""
        return paddle.expand(self.input, [paddle.shape(like)[0]] + self.input.shape[1:])


class NoiseInjection(nn.Layer):
    """x + weight * noise, ``weight`` [1] initialised to 0, noise [B or 1, 1, H, W]."""

    def __init__(self):
        super().__init__()
        self.weight = self.create_parameter([1], default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x, noise=None):
        if noise is None:
            noise = paddle.randn([x.shape[0], 1, x.shape[2], x.shape[3]], dtype=x.dtype)
        return x + self.weight * noise


def clamp(x, conv_clamp):
    """``x`` clipped to [-conv_clamp, conv_clamp] (stylegan2-ada-pytorch's ``conv_clamp``), or as it is for None."""
    return x if conv_clamp is None else paddle.clip(x, -conv_clamp, conv_clamp)


class StyledConv(nn.Layer):
    """ModulatedConv2D -> NoiseInjection -> FusedLeakyReLU (-> clamp); style [B, in]."""

    def __init__(self, in_channels, out_channels, kernel_size, style_dim, upsample=False,
                 blur_kernel=(1, 3, 3, 1), conv_clamp=None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.conv = ModulatedConv2D(in_channels, out_channels, kernel_size, style_dim,
                                    upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x, style, noise=None):
        return clamp(self.activate(self.noise(self.conv(x, style), noise)), self.conv_clamp)

    def forward_folded(self, x, weight, noise=None):
        """``forward`` with a weight from ``conv.folded_weight`` shared by the batch.

        The bias is added before the noise (same sum, other rounding), so that Paddle
        Inference fuses it into the convolution and the noise into the activation.
        """
        bias = self.activate.bias
        x = self.conv.forward_folded(x, weight) + bias.reshape([1, -1, 1, 1])
        return clamp(fused_leaky_relu(self.noise(x, noise)), self.conv_clamp)


class ToRGB(nn.Layer):
    """1x1 modulated conv to RGB without demodulation, plus ``bias`` (-> clamp), plus the upsampled skip."""

    def __init__(self, in_channels, style_dim, upsample=True, blur_kernel=(1, 3, 3, 1), conv_clamp=None):
        super().__init__()
        self.conv_clamp = conv_clamp
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2D(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = self.create_parameter([1, 3, 1, 1], default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x, style, skip=None):
        return self._add_skip(clamp(self.conv(x, style) + self.bias, self.conv_clamp), skip)

    def forward_folded(self, x, weight, skip=None):
        """``forward`` with a weight from ``conv.folded_weight`` shared by the batch."""
        return self._add_skip(clamp(self.conv.forward_folded(x, weight) + self.bias, self.conv_clamp), skip)

    def _add_skip(self, out, skip):
        return out if skip is None else out + self.upsample(skip)


class StyleGANv2Generator(nn.Layer):
    """StyleGAN2 generator: mapping network ``style`` (z -> w) and a style-based synthesis network.

    Args:
        size: output resolution (a power of 2, >= 8).
        style_dim: width of z, w and of the mapping network.
        n_mlp: number of mapping layers.
        channel_multiplier: config-f width factor for resolutions >= 64.
        blur_kernel: FIR taps of the resampling filters.
        lr_mlp: learning-rate multiplier of the mapping network.
        channels: optional {resolution: width} overriding the width table (small test models).
        conv_clamp: None (PaddleGAN's and rosinality's models), or the bound stylegan2-ada-pytorch
            networks clip every conv layer's activation and toRGB output to (256 in its configs).

    A generator converted from an NVlabs pickle also carries the file's truncation centre:
    ``set_w_avg(w_avg)`` makes ``truncation_centre`` return it (``w_avg``, else None).

    Attributes (docs/spec.md, section 2): ``n_latent`` W+ rows, ``num_layers`` noise maps,
    ``w_idx_lst`` W+ row of each style layer, ``channels_lst`` width of each
    style, ``style_layers`` indices of the non-toRGB style layers.
    """

    def __init__(self, size, style_dim, n_mlp, channel_multiplier=2, blur_kernel=(1, 3, 3, 1),
                 lr_mlp=0.01, channels=None, conv_clamp=None):
        super().__init__()
        self.size, self.style_dim = size, style_dim
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.w_avg = None
        self.log_size = int(math.log2(size))
        if 2 ** self.log_size != size or size < 8:
            raise ValueError(f"size must be a power of 2 and at least 8, got {size}")
        self.channels = dict(default_channels(channel_multiplier))
        self.channels.update(channels or {})

        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu") for _ in range(n_mlp)])

        self.input = ConstantInput(self.channels[4])
        clamps = dict(conv_clamp=self.conv_clamp)
        self.conv1 = StyledConv(self.channels[4], self.channels[4], 3, style_dim, blur_kernel=blur_kernel, **clamps)
        self.to_rgb1 = ToRGB(self.channels[4], style_dim, upsample=False, **clamps)

        self.num_layers = (self.log_size - 2) * 2 + 1
        self.n_latent = self.log_size * 2 - 2
        self.convs = nn.LayerList()
        self.to_rgbs = nn.LayerList()
        in_channels = self.channels[4]
        for i in range(3, self.log_size + 1):
            out_channels = self.channels[2 ** i]
            self.convs.append(StyledConv(in_channels, out_channels, 3, style_dim, upsample=True,
                                         blur_kernel=blur_kernel, **clamps))
            self.convs.append(StyledConv(out_channels, out_channels, 3, style_dim, blur_kernel=blur_kernel, **clamps))
            self.to_rgbs.append(ToRGB(out_channels, style_dim, **clamps))
            in_channels = out_channels

        self.noises = nn.Layer()
        for layer_idx in range(self.num_layers):
            res = 2 ** ((layer_idx + 5) // 2)
            self.noises.register_buffer(f"noise_{layer_idx}", paddle.randn([1, 1, res, res]))

        self._build_style_index()

    def _build_style_index(self):
        """Order the style layers as S is ordered; record W+ row and noise map of each."""
        layers = [self.conv1, self.to_rgb1]
        self.w_idx_lst = [0, 1]
        self.noise_idx_lst = [0, None]
        for block in range(self.log_size - 2):
            layers += [self.convs[2 * block], self.convs[2 * block + 1], self.to_rgbs[block]]
            self.w_idx_lst += [2 * block + 1, 2 * block + 2, 2 * block + 3]
            self.noise_idx_lst += [2 * block + 1, 2 * block + 2, None]
        self._style_modules = layers
        self.channels_lst = [layer.conv.in_channels for layer in layers]
        self.style_layers = [i for i, layer in enumerate(layers) if not isinstance(layer, ToRGB)]

    @property
    def num_style_layers(self):
        return len(self._style_modules)

    def is_torgb(self, layer_idx):
        """Whether style layer ``layer_idx`` modulates a toRGB conv."""
        return isinstance(self._style_modules[layer_idx], ToRGB)

    def state_shapes(self, layer_idx):
        """Shapes (without batch) of the state (x, skip) entering style layer ``layer_idx`` >= 2."""
        block = (layer_idx - 2) // 3
        skip_res = 4 * 2 ** block
        x_res = skip_res if (layer_idx - 2) % 3 == 0 else 2 * skip_res
        return [self.channels_lst[layer_idx], x_res, x_res], [3, skip_res, skip_res]

    def fixed_noise(self):
        """The saved noise maps, one [1, 1, R, R] per conv layer."""
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def set_grouped_modconv(self, grouped):
        """Switch every modulated conv between the batched (False) and grouped (True) forms."""
        for layer in self.sublayers():
            if isinstance(layer, ModulatedConv2D):
                layer.grouped = grouped

    def style_affine(self, latent):
        """W [B, style_dim] or W+ [B, n_latent, style_dim] -> S: list of [B, channels_lst[i]]."""
        if latent.ndim == 2:
            return [layer.conv.modulation(latent) for layer in self._style_modules]
        return [layer.conv.modulation(latent[:, w_idx])
                for layer, w_idx in zip(self._style_modules, self.w_idx_lst)]

    def synthesis_from_styles(self, styles, noise=None, randomize_noise=False):
        """S code (list of [B, C_i]) -> image [B, 3, size, size], about [-1, 1].

        Noise: ``noise`` (a list of ``num_layers`` maps) if given, else fresh
        noise when ``randomize_noise``, else the saved maps.
        """
        x, skip = self.synthesis_partial(styles, 0, self.num_style_layers, noise=noise,
                                         randomize_noise=randomize_noise)
        return skip

    def synthesis_partial(self, styles, start, stop, x=None, skip=None, noise=None, randomize_noise=False,
                          folded_weights=None):
        """Run style layers [start, stop) on the running state (x, skip); returns the new state.

        ``styles`` is the full S list (only entries start..stop-1 are read).
        ``x`` [B, C, R, R] is the feature map entering layer ``start`` (None when
        start is 0) and ``skip`` [B, 3, R', R'] the RGB image so far. Because a
        layer only depends on the layers before it, a caller that changes
        styles from layer ``start`` on can reuse the state computed up to it.
        ``folded_weights`` (optional, from ``fold_styles``): layers whose entry is
        not None run with that weight, shared by the batch, and ignore ``styles``.
        """
        if noise is None:
            noise = [None] * self.num_layers if randomize_noise else self.fixed_noise()
        if folded_weights is None:
            folded_weights = [None] * self.num_style_layers
        if start == 0:
            x = self.input(styles[0])
        for layer_idx in range(start, stop):
            layer, weight = self._style_modules[layer_idx], folded_weights[layer_idx]
            if isinstance(layer, ToRGB):
                skip = (layer(x, styles[layer_idx], skip) if weight is None
                        else layer.forward_folded(x, weight, skip))
            else:
                layer_noise = noise[self.noise_idx_lst[layer_idx]]
                x = (layer(x, styles[layer_idx], layer_noise) if weight is None
                     else layer.forward_folded(x, weight, layer_noise))
        return x, skip

    def fold_styles(self, styles, start=0):
        """Weights of style layers >= ``start`` with one S code folded in (for ``synthesis_partial``).

        ``styles``: S list of [1, C_i] (entries before ``start`` are not read) -> list
        with None before ``start``, then each layer's ``conv.folded_weight``.
        """
        return [None] * start + [layer.conv.folded_weight(style)
                                 for layer, style in zip(self._style_modules[start:], styles[start:])]

    def mean_latent(self, n_latent, seed=None, rng=None):
        """Mean of ``n_latent`` mapped random z, [1, style_dim].

        z come from ``rng`` (a ``numpy.random.RandomState``, advanced by the draw), else
        from ``RandomState(seed)``, else from ``paddle.randn``.
        """
        if rng is None and seed is None:
            z = paddle.randn([n_latent, self.style_dim])
        else:
            rng = np.random.RandomState(seed) if rng is None else rng
            z = paddle.to_tensor(rng.randn(n_latent, self.style_dim).astype("float32"))
        with paddle.no_grad():
            return self.style(z).mean(0, keepdim=True)

    def set_w_avg(self, w_avg):
        """Make ``w_avg`` ([style_dim], e.g. an NVlabs file's tracked mean W) the truncation centre."""
        self.w_avg = paddle.to_tensor(np.asarray(w_avg, dtype="float32").reshape([1, self.style_dim]))

    def truncation_centre(self, rng, truncation):
        """The W that truncation pulls towards, [1, style_dim], or None when ``truncation`` >= 1.

        It is ``w_avg`` when set (``set_w_avg``), else ``mean_latent(MEAN_LATENT_SAMPLES, rng=rng)``;
        the z are drawn either way, so what ``rng`` draws next does not depend on ``truncation``.
        """
        if truncation >= 1 or self.w_avg is not None:
            rng.randn(MEAN_LATENT_SAMPLES, self.style_dim)
            return None if truncation >= 1 else self.w_avg
        return self.mean_latent(MEAN_LATENT_SAMPLES, rng=rng)

    def get_latents(self, z, truncation=1.0, truncation_cutoff=None, truncation_latent=None):
        """Map z [B, style_dim] to W, truncated towards ``truncation_latent``.

        Returns W [B, style_dim] when every layer is truncated (``truncation_cutoff``
        None), else W+ [B, n_latent, style_dim] whose first ``truncation_cutoff``
        rows are truncated and the others are not.
        """
        w = self.style(z)
        if truncation >= 1:
            return w
        if truncation_latent is None:
            raise ValueError("truncation < 1 needs truncation_latent (see mean_latent)")
        truncated = truncation_latent + truncation * (w - truncation_latent)
        if truncation_cutoff is None:
            return truncated
        rows = paddle.arange(self.n_latent).reshape([1, -1, 1]) < truncation_cutoff
        return paddle.where(rows, truncated.unsqueeze(1), w.unsqueeze(1))

    def forward(self, styles, return_latents=False, inject_index=None, truncation=1.0,
                truncation_latent=None, input_is_latent=False, noise=None, randomize_noise=True):
        """PaddleGAN's generator call: a list of one or two z (or w) [B, style_dim] -> (image, latent or None).

        Two inputs mix styles: rows before ``inject_index`` (random if None) come
        from the first, the rest from the second. A single input may also be W+.
        """
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if truncation < 1:
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]
        if len(styles) < 2:
            latent = styles[0]
            if latent.ndim < 3:
                latent = latent.unsqueeze(1).tile([1, self.n_latent, 1])
        else:
            if inject_index is None:
                inject_index = random.randint(1, self.n_latent - 1)
            first = styles[0].unsqueeze(1).tile([1, inject_index, 1])
            second = styles[1].unsqueeze(1).tile([1, self.n_latent - inject_index, 1])
            latent = paddle.concat([first, second], axis=1)
        image = self.synthesis_from_styles(self.style_affine(latent), noise=noise,
                                           randomize_noise=randomize_noise)
        return (image, latent) if return_latents else (image, None)

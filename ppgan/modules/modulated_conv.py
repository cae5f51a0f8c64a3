"""Modulated convolution and the FIR resampling filters of StyleGAN2.

Two formulations of the same modulated convolution (docs/spec.md, section 1):

- batched (default): scale the input channels by the style, run one
  convolution whose weight is shared by the whole batch, then demodulate each
  (sample, output channel) of the result;
- grouped: build one modulated and demodulated weight per sample and run a
  grouped convolution with ``groups = batch``.

They are equal up to rounding; the batched one lets the backend run a single
large convolution and is the faster one on every backend we measured
(``benchmark/bench_generator.py``).

When a whole batch shares one style vector, ``folded_weight`` folds it into the
weight once and ``forward_folded`` runs a plain convolution: no per-pixel style
or demodulation pass (direction extraction renders many variants of one image).
"""
import math

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .equalized import EqualLinear


def make_fir_kernel(taps, gain=1.0):
    """2-D FIR kernel ``outer(taps, taps)`` normalised to sum ``gain``; float32 [K, K]."""
    taps = np.asarray(taps, dtype=np.float64)
    kernel = np.outer(taps, taps)
    return (kernel / kernel.sum() * gain).astype("float32")


def _depthwise_kernel(kernel, channels):
    """[K, K] -> [C, 1, K, K] for a depthwise (grouped by channel) convolution."""
    return kernel.reshape([1, 1] + list(kernel.shape)).expand([channels, 1] + list(kernel.shape))


class Blur(nn.Layer):
    """Pad by ``pad`` = (before, after) and filter with the FIR kernel; not saved in the state dict."""

    def __init__(self, taps, pad, gain=1.0):
        super().__init__()
        self.register_buffer("kernel", paddle.to_tensor(make_fir_kernel(taps, gain)), persistable=False)
        self.pad = pad

    def forward(self, x):
        before, after = self.pad
        return F.conv2d(x, _depthwise_kernel(self.kernel, x.shape[1]), padding=[before, after, before, after],
                        groups=x.shape[1])


class Upsample(nn.Layer):
    """2x FIR upsampling (zero insertion, pad (2, 1), filter); buffer ``kernel`` [K, K] is saved.

    Computed as a transposed convolution with stride 2 and padding 1, which
    places the samples exactly as upfirdn2d(up=2, pad=(2, 1)) for a symmetric
    4-tap kernel. Its kernel is dense, ``kernel`` on the channel diagonal (the skip
    has 3 channels): Paddle Inference runs that in oneDNN, but a depthwise one
    with a slower kernel of its own, between layout conversions.
    """

    def __init__(self, taps, factor=2):
        super().__init__()
        self.register_buffer("kernel", paddle.to_tensor(make_fir_kernel(taps, factor * factor)))
        self.factor = factor

    def forward(self, x):
        channels = x.shape[1]
        padding = (self.kernel.shape[0] - self.factor) // 2
        weight = paddle.eye(channels).reshape([channels, channels, 1, 1]) * self.kernel
        return F.conv2d_transpose(x, weight, stride=self.factor, padding=padding)


class ModulatedConv2D(nn.Layer):
    """Style-modulated convolution.

    Parameters: ``weight`` [1, out, in, k, k] (N(0, 1), scaled by 1/sqrt(in*k*k) at
    run time) and ``modulation`` = EqualLinear(style_dim, in, bias_init=1), which
    maps a W vector to this layer's style (its StyleSpace code).
    ``forward(x [B, in, H, W], style [B, in]) -> [B, out, H', W']`` with H' = 2H
    when ``upsample`` (stride-2 transposed convolution, then a 4x4 blur).
    """

    def __init__(self, in_channels, out_channels, kernel_size, style_dim, demodulate=True,
                 upsample=False, blur_kernel=(1, 3, 3, 1)):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.upsample = demodulate, upsample
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.weight = self.create_parameter(
            [1, out_channels, in_channels, kernel_size, kernel_size],
            default_initializer=nn.initializer.Normal(0.0, 1.0))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), gain=factor * factor)
        self.grouped = False

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"upsample={self.upsample}, demodulate={self.demodulate}")

    def forward(self, x, style):
        if self.grouped:
            return self._forward_grouped(x, style)
        weight = self.weight[0] * self.scale
        x = self.forward_folded(x * style.unsqueeze([2, 3]), self._conv_layout(weight))
        if self.demodulate:
            weight_sq = paddle.sum(weight * weight, axis=[2, 3])
            demod = paddle.rsqrt(paddle.matmul(style * style, weight_sq, transpose_y=True) + 1e-8)
            x = x * demod.unsqueeze([2, 3])
        return x

    def modulated_weights(self, style):
        """One weight per sample with its style (and demodulation) folded in: style [B, in] -> [B, out, in, k, k]."""
        weight = self.scale * self.weight * style.reshape([-1, 1, self.in_channels, 1, 1])
        if self.demodulate:
            weight = weight * paddle.rsqrt(paddle.sum(weight * weight, axis=[2, 3, 4], keepdim=True) + 1e-8)
        return weight

    def folded_weight(self, style):
        """The weight for one style vector ``style`` [in] (or [1, in]), in the layout ``forward_folded`` takes."""
        return self._conv_layout(self.modulated_weights(style.reshape([1, self.in_channels]))[0])

    def forward_folded(self, x, weight, groups=1):
        """The convolution alone with a ready weight: x [B, groups*in, H, W] -> [B, groups*out, H', W'].

        ``weight`` is [groups*out, in, k, k], or [groups*in, out, k, k] (transposed
        convolution's layout) when upsampling; ``folded_weight`` makes one.
        """
        if self.upsample:
            return self.blur(F.conv2d_transpose(x, weight, stride=2, groups=groups))
        return F.conv2d(x, weight, padding=self.kernel_size // 2, groups=groups)

    def _conv_layout(self, weight):
        """[out, in, k, k] -> the layout of ``forward_folded`` (in and out swapped when upsampling)."""
        return weight.transpose([1, 0, 2, 3]) if self.upsample else weight

    def _forward_grouped(self, x, style):
        batch, _, height, width = x.shape
        weight = self.modulated_weights(style)
        if self.upsample:
            weight = weight.transpose([0, 2, 1, 3, 4])
        weight = weight.reshape([-1] + weight.shape[2:])
        x = self.forward_folded(x.reshape([1, batch * self.in_channels, height, width]), weight, groups=batch)
        return x.reshape([batch, self.out_channels, x.shape[2], x.shape[3]])

"""Equalized-learning-rate layers of StyleGAN2 (Karras et al. 2020).

Weights are stored at unit scale and multiplied by ``lr_mul / sqrt(fan_in)``
at run time. Linear weights use Paddle's ``[in, out]`` layout.
"""
import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

SQRT2 = math.sqrt(2.0)


def fused_leaky_relu(x, bias=None):
    """``leaky_relu(x + bias, 0.2) * sqrt(2)``, bias [C] (optional) broadcast on axis 1 of x [B, C, ...]."""
    if bias is not None:
        x = x + bias.reshape([1, -1] + [1] * (len(x.shape) - 2))
    return F.leaky_relu(x, 0.2) * SQRT2


class FusedLeakyReLU(nn.Layer):
    """Bias then scaled leaky ReLU; parameter ``bias`` [C]."""

    def __init__(self, channels):
        super().__init__()
        self.bias = self.create_parameter([channels], default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)


class PixelNorm(nn.Layer):
    """``x * rsqrt(mean(x^2, axis=1) + 1e-8)`` for x [B, C]."""

    def forward(self, x):
        return x * paddle.rsqrt(paddle.mean(x * x, axis=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Layer):
    """y = x @ (weight * lr_mul / sqrt(in)) + bias * lr_mul, optionally fused leaky ReLU.

    Parameters: ``weight`` [in, out] initialised N(0, 1) / lr_mul, ``bias`` [out].
    """

    def __init__(self, in_dim, out_dim, bias=True, bias_init=0.0, lr_mul=1.0, activation=None):
        super().__init__()
        self.weight = self.create_parameter(
            [in_dim, out_dim], default_initializer=nn.initializer.Normal(0.0, 1.0 / lr_mul))
        self.bias = self.create_parameter(
            [out_dim], default_initializer=nn.initializer.Constant(bias_init)) if bias else None
        self.activation = activation
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x):
        out = paddle.matmul(x, self.weight * self.scale)
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation == "fused_lrelu":
            return fused_leaky_relu(out, bias)
        return out + bias if bias is not None else out

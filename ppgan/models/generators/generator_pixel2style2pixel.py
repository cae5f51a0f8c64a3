"""pixel2style2pixel (pSp) and encoder4editing (e4e): encode an aligned face photo into StyleGAN2's W+ and render it.

A GradualStyleEncoder on an IR-SE-50 backbone maps a 256x256 face to one
style vector per W+ row; the StyleGAN2 generator (``decoder``) renders them.
e4e's ``Encoder4Editing`` has the same layers and names with another head (row 0 predicts
w0, every other row an offset from it). Parameter names and shapes equal PaddleGAN's
released FFHQ inversion model (configs/pSp-ffhq-inversion.yaml); the encoder's widths
(``encoder_widths``) default to IR-SE-50's and are read off the weights of other files.
"""
import itertools
import math
from collections.abc import Mapping
from types import SimpleNamespace

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ...modules.equalized import EqualLinear
from .generator_styleganv2 import StyleGANv2Generator

# IR-SE-50: (depth, units) per stage; the first unit of each stage halves the resolution.
IR_SE_50_STAGES = ((64, 3), (128, 4), (256, 14), (512, 3))
IR_SE_50_WIDTHS = (64,) + tuple(depth for depth, _ in IR_SE_50_STAGES)  # input layer, then the four stages
INPUT_SIZE = 256
COARSE_STYLES = 3  # W+ rows 0-2 read the 16 px features
MIDDLE_STYLES = 4  # rows 3-6 the 32 px features; the remaining (fine) rows the 64 px ones

DEFAULT_OPTS = dict(encoder_type="GradualStyleEncoder", input_nc=3, start_from_latent_avg=True, learn_in_w=False,
                    size=1024, style_dim=512, n_mlp=8, channel_multiplier=2, channels=None,
                    encoder_widths=IR_SE_50_WIDTHS)
ENCODER_TYPES = ("GradualStyleEncoder", "Encoder4Editing")  # pSp's W+ encoder, e4e's


def psp_options(opts=None):
    """PaddleGAN's pSp options (a dict or an object with attributes) over ``DEFAULT_OPTS``, as a namespace.

    ``channels`` ({resolution: width}) and ``encoder_widths`` (input layer and the four
    IR-SE stages; not PaddleGAN fields) narrow the decoder and encoder of small models.
    ``encoder_type`` "Encoder4Editing" builds e4e's encoder. Other fields (pSp training options) are
    ignored. Raises ``ValueError`` for variants this port does not implement.
    """
    opts = opts or {}
    get = opts.get if isinstance(opts, Mapping) else lambda name, default: getattr(opts, name, default)
    merged = SimpleNamespace(**{name: get(name, default) for name, default in DEFAULT_OPTS.items()})
    if merged.encoder_type not in ENCODER_TYPES:
        raise ValueError(f"encoder_type {merged.encoder_type!r} is not supported; "
                         f"only {' and '.join(ENCODER_TYPES)} are")
    if len(merged.encoder_widths) != len(IR_SE_50_WIDTHS):
        raise ValueError(f"encoder_widths {merged.encoder_widths!r} must give {len(IR_SE_50_WIDTHS)} widths "
                         "(input layer and four stages)")
    if merged.learn_in_w:
        raise ValueError("learn_in_w encoders (a single W) are not supported; only W+ (learn_in_w False) is")
    return merged


class SEModule(nn.Layer):
    """Squeeze-and-excitation: x * sigmoid(fc2(relu(fc1(mean over H, W of x)))), bias-free 1x1 convs."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.fc1 = nn.Conv2D(channels, channels // reduction, 1, bias_attr=False)
        self.fc2 = nn.Conv2D(channels // reduction, channels, 1, bias_attr=False)

    def forward(self, x):
        gate = self.fc2(F.relu(self.fc1(x.mean(axis=[2, 3], keepdim=True))))
        return x * F.sigmoid(gate)


class BottleneckIRSE(nn.Layer):
    """IR-SE unit [B, in, H, W] -> [B, depth, H/stride, W/stride].

    Residual: BN, 3x3 conv, PReLU, 3x3 conv (stride), BN, SE. Shortcut:
    subsampling when the width is kept, else 1x1 conv (stride) + BN.
    """

    def __init__(self, in_channels, depth, stride):
        super().__init__()
        if in_channels == depth:
            self.shortcut_layer = nn.MaxPool2D(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2D(in_channels, depth, 1, stride, bias_attr=False),
                                                nn.BatchNorm2D(depth))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2D(in_channels),
            nn.Conv2D(in_channels, depth, 3, 1, 1, bias_attr=False),
            nn.PReLU(depth),
            nn.Conv2D(depth, depth, 3, stride, 1, bias_attr=False),
            nn.BatchNorm2D(depth),
            SEModule(depth))

    def forward(self, x):
        return self.shortcut_layer(x) + self.res_layer(x)


class GradualStyleBlock(nn.Layer):
    """Feature map [B, in, R, R] -> one style [B, out]: log2(R) stride-2 convs with LeakyReLU, then EqualLinear."""

    def __init__(self, in_channels, out_channels, spatial):
        super().__init__()
        layers = []
        for i in range(int(math.log2(spatial))):
            layers += [nn.Conv2D(in_channels if i == 0 else out_channels, out_channels, 3, 2, 1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_channels, out_channels)

    def forward(self, x):
        return self.linear(self.convs(x).flatten(1))


def style_resolution(style_idx):
    """Resolution (16, 32 or 64 px) of the feature map that W+ row ``style_idx`` is read from."""
    if style_idx < COARSE_STYLES:
        return 16
    return 32 if style_idx < COARSE_STYLES + MIDDLE_STYLES else 64


def upsample_add(x, lateral):
    """Bilinearly resize x (align_corners) to the lateral map's size and add it."""
    return F.interpolate(x, size=lateral.shape[2:], mode="bilinear", align_corners=True) + lateral


class GradualStyleEncoder(nn.Layer):
    """Face [B, input_nc, 256, 256] in [-1, 1] -> W+ offsets [B, n_styles, style_dim].

    The IR-SE-50 body gives feature maps c1 (128 ch, 64 px), c2 (256 ch, 32 px)
    and c3 (512 ch, 16 px). Coarse styles read c3, middle styles
    p2 = up(c3) + latlayer1(c2), fine styles p1 = up(p2) + latlayer2(c1).
    ``widths``: the input layer's and the four stages' widths (default IR-SE-50's 64, 64, 128, 256, 512).
    """

    def __init__(self, n_styles=18, input_nc=3, style_dim=512, widths=IR_SE_50_WIDTHS):
        super().__init__()
        stem, *depths = widths
        self.input_layer = nn.Sequential(nn.Conv2D(input_nc, stem, 3, 1, 1, bias_attr=False),
                                         nn.BatchNorm2D(stem), nn.PReLU(stem))
        units, in_channels = [], stem
        for depth, (_, num_units) in zip(depths, IR_SE_50_STAGES):
            for i in range(num_units):
                units.append(BottleneckIRSE(in_channels, depth, 2 if i == 0 else 1))
                in_channels = depth
        self.body = nn.Sequential(*units)
        stage_ends = itertools.accumulate(num_units for _, num_units in IR_SE_50_STAGES)
        self._feature_units = [end - 1 for end in stage_ends][1:]  # c1, c2, c3: outputs of stages 2, 3, 4
        top = depths[-1]
        self.styles = nn.LayerList([GradualStyleBlock(top, style_dim, style_resolution(i)) for i in range(n_styles)])
        self.latlayer1 = nn.Conv2D(depths[-2], top, 1)
        self.latlayer2 = nn.Conv2D(depths[-3], top, 1)

    def feature_maps(self, x):
        """Faces -> {16: c3, 32: p2, 64: p1}, the maps the style heads read (by ``style_resolution``)."""
        x = self.input_layer(x)
        features = []
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in self._feature_units:
                features.append(x)
        c1, c2, c3 = features
        p2 = upsample_add(c3, self.latlayer1(c2))
        p1 = upsample_add(p2, self.latlayer2(c1))
        return {16: c3, 32: p2, 64: p1}

    def forward(self, x):
        maps = self.feature_maps(x)
        return paddle.stack([style(maps[style_resolution(i)]) for i, style in enumerate(self.styles)], axis=1)


class Encoder4Editing(GradualStyleEncoder):
    """e4e's encoder: GradualStyleEncoder's layers, another head.

    Row 0 is w0 = styles[0](c3); row i >= 1 is w0 + styles[i] of its map (c3, p2 or p1 as in
    pSp): all deltas, as e4e's encoder runs at ``ProgressiveStage.Inference``.
    """

    def forward(self, x):
        maps = self.feature_maps(x)
        w0 = self.styles[0](maps[style_resolution(0)])
        rows = [w0] + [w0 + style(maps[style_resolution(i)]) for i, style in enumerate(self.styles) if i > 0]
        return paddle.stack(rows, axis=1)


class Pixel2Style2Pixel(nn.Layer):
    """pSp: ``encoder`` (GradualStyleEncoder, or e4e's Encoder4Editing by ``encoder_type``) + ``decoder``
    (StyleGANv2Generator) + buffer ``latent_avg``.

    ``opts``: see ``psp_options`` (PaddleGAN's fields; ``size`` may be any
    decoder size, the encoder then predicts its ``n_latent`` rows).
    ``latent_avg`` [1, n_latent, style_dim] exists when ``start_from_latent_avg``:
    the encoder then predicts offsets from it.
    """

    def __init__(self, opts=None):
        super().__init__()
        self.opts = psp_options(opts)
        decoder = StyleGANv2Generator(self.opts.size, self.opts.style_dim, self.opts.n_mlp,
                                      self.opts.channel_multiplier, channels=self.opts.channels)
        self.n_latent, self.style_dim = decoder.n_latent, decoder.style_dim
        if self.opts.start_from_latent_avg:
            self.register_buffer("latent_avg", paddle.zeros([1, self.n_latent, self.style_dim]))
        encoder = Encoder4Editing if self.opts.encoder_type == "Encoder4Editing" else GradualStyleEncoder
        self.encoder = encoder(self.n_latent, self.opts.input_nc, self.style_dim, tuple(self.opts.encoder_widths))
        self.decoder = decoder

    def encode(self, images):
        """Aligned faces [B, input_nc, 256, 256] in [-1, 1] -> W+ [B, n_latent, style_dim] (with latent_avg)."""
        if list(images.shape[2:]) != [INPUT_SIZE, INPUT_SIZE]:
            raise ValueError(f"pSp encodes {INPUT_SIZE}x{INPUT_SIZE} images, got {list(images.shape[2:])}")
        codes = self.encoder(images)
        return codes + self.latent_avg if self.opts.start_from_latent_avg else codes

    def forward(self, images, randomize_noise=False):
        """Faces [B, input_nc, 256, 256] -> (reconstruction [B, 3, size, size] in about [-1, 1], W+).

        The reconstruction keeps the decoder's resolution (pSp's 256 px
        ``face_pool`` is a training-loss detail) and uses the saved noise
        unless ``randomize_noise``.
        """
        latents = self.encode(images)
        image, _ = self.decoder([latents], input_is_latent=True, randomize_noise=randomize_noise)
        return image, latents

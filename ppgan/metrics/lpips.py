"""LPIPS v0.1 with VGG16 (Zhang et al. 2018), in PaddleGAN's two weight files.

distance(x0, x1) = sum over the VGG16 features relu1_2, relu2_2, relu3_3, relu4_3,
relu5_3 of the spatial mean of lin_k((n(f_k(x0)) - n(f_k(x1)))^2), where n
divides each feature vector by its channel norm (eps 1e-10), lin_k is a 1x1
convolution to one channel without bias, and the images ([-1, 1]) are first
shifted by (-0.030, -0.088, -0.188) and divided by (0.458, 0.448, 0.450) per channel.

Files (models ``vgg16`` and ``lins-0.1-vgg`` of configs/): torchvision's
VGG16 in Paddle's layout (the convolutions ``features.{i}.weight/bias`` are read, the
classifier is ignored) and the heads (``{k}.model.1.weight`` [1, C_k, 1, 1], k = 0..4).
"""
import paddle
import paddle.nn as nn

from ..models.zoo import release_file
from ..utils.checkpoint import load_pdparams, load_state_dict_strict
from ..utils.errors import UserError

VGG_MODEL = "vgg16"  # configs/lpips-vgg16.yaml
LINS_MODEL = "lins-0.1-vgg"  # configs/lpips-lins-0.1-vgg.yaml
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
# torchvision's VGG16 feature stack up to relu5_3: convolution widths, "M" for 2x2 max pooling
VGG16_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
TAPS = (3, 8, 15, 22, 29)  # indices in ``features`` of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
CHANNELS = (64, 128, 256, 512, 512)
EPS = 1e-10


def vgg16_features():
    """VGG16's convolution stack (conv 3x3 pad 1 + ReLU, 2x2 max pools) up to relu5_3, torchvision indices."""
    layers, in_channels = [], 3
    for item in VGG16_CONFIG:
        if item == "M":
            layers.append(nn.MaxPool2D(2, 2))
        else:
            layers += [nn.Conv2D(in_channels, item, 3, padding=1), nn.ReLU()]
            in_channels = item
    return nn.Sequential(*layers)


class LinearHead(nn.Layer):
    """One LPIPS head: ``model.1`` a 1x1 convolution C -> 1 without bias (``model.0`` was a dropout)."""

    def __init__(self, channels):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(p=0.0), nn.Conv2D(channels, 1, 1, bias_attr=False))

    def forward(self, x):
        return self.model(x)


class LPIPS(nn.Layer):
    """LPIPS v0.1 (VGG16). ``forward(x0, x1)``: images [B, 3, H, W] in [-1, 1] -> distances [B].

    Random weights until ``load`` is called; all parameters are frozen (stop_gradient).
    """

    def __init__(self):
        super().__init__()
        self.features = vgg16_features()
        self.lins = nn.LayerList([LinearHead(channels) for channels in CHANNELS])
        self.register_buffer("shift", paddle.to_tensor(SHIFT, dtype="float32").reshape([1, 3, 1, 1]))
        self.register_buffer("scale", paddle.to_tensor(SCALE, dtype="float32").reshape([1, 3, 1, 1]))
        for param in self.parameters():
            param.stop_gradient = True
        self.eval()

    def load(self, vgg_path, lins_path):
        """Read PaddleGAN's two files (strictly: every needed key, right shapes)."""
        vgg, lins = load_pdparams(vgg_path, "{vgg_weight_path}"), load_pdparams(lins_path, "{lins_weight_path}")
        for state, path, arg in ((vgg, vgg_path, "{vgg_weight_path}"), (lins, lins_path, "{lins_weight_path}")):
            if not isinstance(state, dict):
                raise UserError(f"{path} holds a {type(state).__name__}, not a state dict; "
                                f"pass PaddleGAN's LPIPS file with {arg}")
        vgg = {key[len("features."):]: value for key, value in vgg.items() if key.startswith("features.")}
        load_state_dict_strict(self.features, vgg, source=vgg_path, arg="{vgg_weight_path}")
        load_state_dict_strict(self.lins, lins, source=lins_path, arg="{lins_weight_path}")
        return self

    def layer_distances(self, x0, x1):
        """Per-tap distances, list of 5 [B] tensors (their sum is ``forward``)."""
        h0, h1 = (x0 - self.shift) / self.scale, (x1 - self.shift) / self.scale
        distances, start = [], 0
        for lin, tap in zip(self.lins, TAPS):
            for layer in self.features[start:tap + 1]:
                h0, h1 = layer(h0), layer(h1)
            start = tap + 1
            diff = (_unit(h0) - _unit(h1)) ** 2
            distances.append(lin(diff).mean(axis=[1, 2, 3]))
        return distances

    def forward(self, x0, x1):
        return paddle.add_n(self.layer_distances(x0, x1))


def _unit(features):
    return features / (paddle.sqrt((features ** 2).sum(axis=1, keepdim=True)) + EPS)


def load_lpips(vgg_weight_path=None, lins_weight_path=None):
    """(LPIPS with PaddleGAN's weights, None) or, when a file cannot be had, (None, the reason).

    Files come from the registry (``vgg16``, ``lins-0.1-vgg``) unless paths are given;
    a given path that is wrong is still an error.
    """
    try:
        vgg = release_file("lpips", VGG_MODEL, vgg_weight_path, arg="{vgg_weight_path}")
        lins = release_file("lpips", LINS_MODEL, lins_weight_path, arg="{lins_weight_path}")
    except UserError as exc:
        if vgg_weight_path is not None and lins_weight_path is not None:
            raise
        return None, str(exc)
    return LPIPS().load(vgg, lins), None

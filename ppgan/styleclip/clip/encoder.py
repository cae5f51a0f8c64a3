"""CLIP ViT-B/32 (PyPI ``paddleclip``) behind strict weight loading: text and image encoders.

``ClipEncoder`` holds the model: ``encode_text`` (texts -> [N,512]) and ``encode_images``
(generator output [N,3,H,W] -> [N,512], through ``clip_preprocess``). Its image tower
runs as a Paddle Inference program on CPUs (``ImageTower``, graph ``ImageTowerGraph``).
Weight files are read with ``ppgan.utils.checkpoint.load_pdparams`` (safe unpickling) and
must hold every key of ViT-B/32 with its shape.
"""
import importlib.metadata
import inspect

import clip  # PyPI paddleclip (absolute import: not the package ppgan.styleclip.clip)
import numpy as np
import paddle
import paddle.nn as nn

from ...models.zoo import release_file
from ...utils import compiled
from ...utils.checkpoint import load_pdparams
from ...utils.errors import UserError
from .preprocess import clip_preprocess
from .tokens import tokenize

WEIGHT_ARG = "{clip_weight_path}"


def build_clip_model():
    """paddleclip's ViT-B/32 with random weights, in eval mode. Never touches ``./pretrained_models``."""
    model, _ = clip.load_model("ViT_B_32", pretrained=False)
    return model


def state_dict_problems(model, state_dict):
    """Keys of ``model`` missing from ``state_dict`` or of the wrong shape, as readable strings."""
    problems = []
    for key, param in model.state_dict().items():
        if key not in state_dict:
            problems.append(f"missing {key}")
        elif list(state_dict[key].shape) != list(param.shape):
            problems.append(f"{key} has shape {list(state_dict[key].shape)}, expected {list(param.shape)}")
    return problems


def load_clip_weights(model, path):
    """Load a ViT-B/32 state dict file into ``model``; missing or mis-shaped keys raise UserError. Extra keys are ignored."""
    state_dict = load_pdparams(path, WEIGHT_ARG)
    if not isinstance(state_dict, dict):
        raise UserError(f"{path} holds a {type(state_dict).__name__}, not a state dict; "
                        f"pass a ViT-B-32 .pdparams file with {WEIGHT_ARG}")
    problems = state_dict_problems(model, state_dict)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise UserError(f"{path} is not a CLIP ViT-B/32 state dict ({shown}); "
                        f"pass the ViT-B-32 .pdparams file with {WEIGHT_ARG}")
    model.set_state_dict({key: state_dict[key] for key in model.state_dict()})


def save_random_clip_weights(path, seed=0):
    """Write a randomly initialised ViT-B/32 state dict (about 605 MB) to ``path``. Reseeds Paddle's RNG."""
    paddle.seed(seed)
    paddle.save(build_clip_model().state_dict(), path)


class ImageTowerGraph(nn.Layer):
    """CLIP's ViT image tower (paddleclip ``VisualTransformer``) as exported for Paddle Inference.

    ``VisualTransformer.forward`` with one change: the output reads only the class token,
    so the last block computes its attention query, output projection and MLP for that
    token alone (keys and values still for every token): 6.6% fewer FLOPs, same math.
    """

    def __init__(self, visual):
        super().__init__()
        self.visual = visual

    def forward(self, pixels):
        visual = self.visual
        x = visual.conv1(pixels)
        x = x.reshape([x.shape[0], x.shape[1], -1]).transpose([0, 2, 1])
        cls = visual.class_embedding + paddle.zeros([x.shape[0], 1, x.shape[2]], dtype=x.dtype)
        x = visual.ln_pre(paddle.concat([cls, x], axis=1) + visual.positional_embedding)
        *blocks, last = visual.transformer.resblocks
        for block in blocks:
            x = block(x)
        normed = last.ln_1(x)
        x = x[:, :1] + last.attn(normed[:, :1], normed, normed)
        x = x + last.mlp(last.ln_2(x))
        return paddle.matmul(visual.ln_post(x[:, 0, :]), visual.proj)


class ImageTower:
    """CLIP's image tower: pixels float32 Tensor [B,3,224,224] (``clip_preprocess``) -> embeddings Tensor [B,512].

    On CPUs it runs ``ImageTowerGraph`` as a Paddle Inference program with oneDNN, exported
    once per weights into ``$PPGAN_HOME/compiled/`` (``ppgan.utils.compiled``), and keeps no
    eager copy of the weights; on GPUs, with ``PPGAN_SYNTHESIS=eager`` or ``eager=True`` it
    calls the eager ``visual`` layer. Both agree to float rounding (cosine similarity above
    0.99999, tested). ``weights_digest`` identifies the weights (md5 hex).
    """

    INPUT = "pixels"

    def __init__(self, visual, eager=None):
        visual.eval()
        self.eager = compiled.use_eager_programs() if eager is None else eager
        self.weights_digest = compiled.fingerprint(visual.state_dict())
        self.visual = visual if self.eager else None
        self._predictor = None if self.eager else self._load_predictor(visual)

    def _load_predictor(self, visual):
        size = visual.input_resolution
        graph = inspect.getsource(ImageTowerGraph)  # an edited graph is exported anew
        key = compiled.fingerprint({}, self.weights_digest, graph, importlib.metadata.version("paddleclip"), size)
        spec = [paddle.static.InputSpec([None, 3, size, size], "float32", name=self.INPUT)]
        directory = compiled.cached_export(
            key, "image_tower", lambda prefix: compiled.export_layer(ImageTowerGraph(visual), spec, prefix))
        return compiled.create_cpu_predictor(directory, "image_tower")

    def __call__(self, pixels):
        if self.eager:
            with paddle.no_grad():
                return self.visual(pixels)
        return paddle.to_tensor(compiled.run_predictor(self._predictor, {self.INPUT: pixels})[0])


class ClipEncoder:
    """CLIP ViT-B/32 text and image encoder (inference only; outputs are unnormalized).

    ``ClipEncoder(weight_path)`` loads that file, ``ClipEncoder()`` resolves the released
    'ViT-B-32' weights (cache or download), ``ClipEncoder(random_init=True)`` keeps the
    random initialisation (tests and benchmarks).
    """

    def __init__(self, weight_path=None, random_init=False):
        if random_init and weight_path is not None:
            raise ValueError("pass either weight_path or random_init=True, not both")
        path = None if random_init else release_file("clip", path=weight_path, arg=WEIGHT_ARG)
        self.model = build_clip_model()
        if path is not None:
            load_clip_weights(self.model, path)
        self._image_tower = None

    @property
    def image_tower(self):
        """The ``ImageTower`` of this model (made, and on CPUs compiled, on first use)."""
        if self._image_tower is None:
            self._image_tower = ImageTower(self.model.visual)
        return self._image_tower

    @paddle.no_grad()
    def encode_text(self, texts):
        """Texts (list of N str) -> text embeddings float32 Tensor [N,512], in one batch.

        Encodes only up to the longest prompt instead of all 77 positions: with CLIP's
        causal mask the end-of-text feature does not depend on the padding after it.
        """
        tokens, end_index = tokenize(texts)
        model = self.model
        length = tokens.shape[1]
        hidden = model.token_embedding(paddle.to_tensor(tokens)) + model.positional_embedding[:length]
        causal_mask = paddle.triu(paddle.full([length, length], float("-inf")), diagonal=1)
        for block in model.transformer.resblocks:
            normed = block.ln_1(hidden)
            hidden = hidden + block.attn(normed, normed, normed, attn_mask=causal_mask)
            hidden = hidden + block.mlp(block.ln_2(hidden))
        hidden = model.ln_final(hidden)
        rows = paddle.to_tensor(np.stack([np.arange(len(tokens)), end_index], axis=1))
        return paddle.gather_nd(hidden, rows) @ model.text_projection

    @paddle.no_grad()
    def encode_images(self, images):
        """Generator output [N,3,H,W] in [-1,1] -> image embeddings float32 Tensor [N,512] (``image_tower``)."""
        return self.image_tower(clip_preprocess(images))

"""The synthesis network written as an ONNX graph, node by node, from a generator's weights.

ONNX Runtime and OpenVINO run this graph (``ppgan.utils.engines``). It is built here
rather than converted from Paddle's program: each node is the formula of
``ppgan.modules`` (docs/spec.md, section 1) with the weights folded to constants, so
nothing is left to a converter's reading of Paddle's ops, and the graph is the same
under Paddle 2.6 and 3.x. Tests compare every graph with eager Paddle.

Two graphs, with the inputs and output of the Paddle Inference programs of
``fast_synthesis``:

- ``synthesis_graph(generator, start)``: style layers [start, end) with the saved
  noise; inputs ``x``, ``skip`` (the state entering ``start``, when start > 0) and
  ``style_{i}`` [B, C_i] for i >= start; output ``image`` [B, 3, size, size].
- ``variants_graph(generator, start, weight_shapes)``: layer ``start`` modulated by
  ``style`` [B, C_start], every later layer a plain convolution with the weight fed
  as ``weight_{i}`` (``StyleGANv2Generator.fold_styles``).
"""
import math

import numpy as np

from .generator_styleganv2 import ToRGB

OPSET = 17
LEAKY_SLOPE = 0.2


class _GraphBuilder:
    """Nodes, constants and inputs of one graph, named in order of creation."""

    def __init__(self):
        from onnx import helper

        self.helper = helper
        self.nodes, self.initializers, self.inputs = [], [], []
        self._count = 0

    def _name(self, prefix):
        self._count += 1
        return f"{prefix}.{self._count}"  # "." keeps them apart from the input names

    def const(self, array, prefix="const"):
        from onnx import numpy_helper

        name = self._name(prefix)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def input(self, name, shape):
        from onnx import TensorProto

        self.inputs.append(self.helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        return name

    def op(self, op_type, *inputs, output=None, **attributes):
        output = output or self._name(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [output], **attributes))
        return output

    def model(self, output, size, batch):
        from onnx import TensorProto

        outputs = [self.helper.make_tensor_value_info(output, TensorProto.FLOAT, [batch, 3, size, size])]
        graph = self.helper.make_graph(self.nodes, "synthesis", self.inputs, outputs, self.initializers)
        model = self.helper.make_model(graph, opset_imports=[self.helper.make_opsetid("", OPSET)],
                                       producer_name="ppgan")
        model.ir_version = 8  # read by every runtime since ONNX 1.10
        return model


def _numpy(tensor):
    return np.asarray(tensor.numpy(), dtype="float32")


def _convolve(graph, conv, x, weight):
    """``ModulatedConv2D.forward_folded``: the convolution (transposed + FIR blur when upsampling)."""
    if not conv.upsample:
        pad = conv.kernel_size // 2
        return graph.op("Conv", x, weight, pads=[pad] * 4)
    x = graph.op("ConvTranspose", x, weight, strides=[2, 2])
    kernel = _numpy(conv.blur.kernel)
    channels = conv.out_channels
    before, after = conv.blur.pad
    depthwise = graph.const(np.broadcast_to(kernel, (channels, 1) + kernel.shape).copy(), "blur")
    return graph.op("Conv", x, depthwise, group=channels, pads=[before, before, after, after])


def _modulated(graph, conv, x, style):
    """``ModulatedConv2D.forward`` in its batched form: scale the inputs by the style, convolve, demodulate."""
    style_map = graph.op("Unsqueeze", style, graph.const(np.array([2, 3], dtype="int64"), "axes"))
    weight = _numpy(conv.weight)[0] * np.float32(conv.scale)
    folded_layout = weight.transpose(1, 0, 2, 3) if conv.upsample else weight
    x = _convolve(graph, conv, graph.op("Mul", x, style_map), graph.const(folded_layout, "weight"))
    if not conv.demodulate:
        return x
    weight_sq = (weight * weight).sum(axis=(2, 3)).T  # [in, out]
    energy = graph.op("MatMul", graph.op("Mul", style, style), graph.const(np.ascontiguousarray(weight_sq), "wsq"))
    return graph.op("Mul", x, graph.op("Unsqueeze", _reciprocal_sqrt(graph, energy),
                                       graph.const(np.array([2, 3], dtype="int64"), "axes")))


def _modulated_weight(graph, conv, x, style):
    """``ModulatedConv2D.forward`` for one sample (style [1, in]): the style and demodulation folded into the
    weight in the graph (``modulated_weights``), then one plain convolution: no per-pixel style passes."""
    weight = _numpy(conv.weight)[0] * np.float32(conv.scale)
    style_map = graph.op("Reshape", style, graph.const(np.array([1, -1, 1, 1], dtype="int64"), "shape"))
    modulated = graph.op("Mul", graph.const(weight, "weight"), style_map)  # [out, in, k, k]
    if conv.demodulate:
        energy = graph.op("ReduceSumSquare", modulated, axes=[1, 2, 3], keepdims=1)
        modulated = graph.op("Mul", modulated, _reciprocal_sqrt(graph, energy))
    if conv.upsample:
        modulated = graph.op("Transpose", modulated, perm=[1, 0, 2, 3])
    return _convolve(graph, conv, x, modulated)


def _reciprocal_sqrt(graph, energy):
    """``rsqrt(energy + 1e-8)``, demodulation's factor."""
    energy = graph.op("Add", energy, graph.const(np.array(1e-8, dtype="float32"), "eps"))
    return graph.op("Div", graph.const(np.array(1.0, dtype="float32"), "one"), graph.op("Sqrt", energy))


def _clamp(graph, x, conv_clamp):
    if conv_clamp is None:
        return x
    bound = np.float32(conv_clamp)
    return graph.op("Clip", x, graph.const(np.array(-bound), "lo"), graph.const(np.array(bound), "hi"))


def _styled_conv_tail(graph, layer, x, noise, folded):
    """Noise, bias, scaled leaky ReLU and clamp after a StyledConv's convolution (in the order its forms use)."""
    bias = graph.const(_numpy(layer.activate.bias).reshape(1, -1, 1, 1), "bias")
    scaled_noise = graph.const(_numpy(layer.noise.weight) * _numpy(noise), "noise")
    if folded:  # StyledConv.forward_folded: bias first, then noise
        x = graph.op("Add", graph.op("Add", x, bias), scaled_noise)
    else:
        x = graph.op("Add", graph.op("Add", x, scaled_noise), bias)
    x = graph.op("LeakyRelu", x, alpha=LEAKY_SLOPE)
    x = graph.op("Mul", x, graph.const(np.array(math.sqrt(2.0), dtype="float32"), "gain"))
    return _clamp(graph, x, layer.conv_clamp)


def _to_rgb_tail(graph, layer, out, skip):
    out = _clamp(graph, graph.op("Add", out, graph.const(_numpy(layer.bias), "rgb_bias")), layer.conv_clamp)
    if skip is None:
        return out
    upsample = layer.upsample
    taps = _numpy(upsample.kernel)
    channels = 3
    weight = np.eye(channels, dtype="float32").reshape(channels, channels, 1, 1) * taps
    padding = (taps.shape[0] - upsample.factor) // 2
    skip = graph.op("ConvTranspose", skip, graph.const(weight, "upsample"), strides=[upsample.factor] * 2,
                    pads=[padding] * 4)
    return graph.op("Add", out, skip)


def _build(generator, start, inputs_of_layer, batch="batch"):
    """Layers [start, end) of ``generator`` for ``batch`` samples (a number, or a name for any); ``inputs_of_layer(graph,
    i)`` gives layer i's input: ("style", [B, C_i] input), ("sample_style", [1, C_i] input) or ("weight", weight)."""
    graph = _GraphBuilder()
    modules = generator._style_modules
    noise = generator.fixed_noise()
    if start == 0:
        x = graph.const(_numpy(generator.input.input), "constant_input")
        skip = None
    else:
        x_shape, skip_shape = generator.state_shapes(start)
        x = graph.input("x", [batch] + x_shape)
        skip = graph.input("skip", [batch] + skip_shape)
    modulate = {"style": _modulated, "sample_style": _modulated_weight, "weight": _convolve}
    for layer_idx in range(start, generator.num_style_layers):
        layer = modules[layer_idx]
        kind, value = inputs_of_layer(graph, layer_idx)
        out = modulate[kind](graph, layer.conv, x, value)
        if isinstance(layer, ToRGB):
            skip = _to_rgb_tail(graph, layer, out, skip)
            if layer_idx == generator.num_style_layers - 1:
                skip = graph.op("Identity", skip, output="image")
        else:
            x = _styled_conv_tail(graph, layer, out, noise[generator.noise_idx_lst[layer_idx]], kind == "weight")
    return graph.model("image", generator.size, batch)


def synthesis_graph(generator, start=0, per_sample=False):
    """ONNX model of style layers [start, end) of ``generator`` (a ``StyleGANv2Generator``) with its saved noise.

    Inputs ``x``, ``skip`` (when start > 0) and ``style_{i}`` [B, C_i], i >= start; output ``image``.
    ``per_sample``: B is 1, and each layer folds its style into its weight in the graph (the faster form for
    engines that fuse a plain convolution with what follows it, but not the style's scaling before it).
    """
    batch, kind = (1, "sample_style") if per_sample else ("batch", "style")

    def style_input(graph, layer_idx):
        return kind, graph.input(f"style_{layer_idx}", [batch, generator.channels_lst[layer_idx]])

    return _build(generator, start, style_input, batch)


def variants_graph(generator, start, weight_shapes):
    """ONNX model of layers [start, end): ``style`` [B, C_start] modulates layer ``start``; every later layer i
    convolves with the fed ``weight_{i}`` (shape ``weight_shapes[i - start - 1]``, see ``fold_styles``)."""
    def layer_input(graph, layer_idx):
        if layer_idx == start:
            return "style", graph.input("style", ["batch", generator.channels_lst[start]])
        return "weight", graph.input(f"weight_{layer_idx}", list(weight_shapes[layer_idx - start - 1]))

    return _build(generator, start, layer_input)

"""Export a benchmark model saved by TF.js (a Layers model: model.json + weights.bin) to ONNX.

usage: /usr/bin/python3 bench/tfjs_to_onnx.py TFJS_VERSION_DIR ONNX_VERSION_DIR INPUT_NAME OUTPUT_NAME

Writes ONNX_VERSION_DIR/model.onnx computing what the TF.js model computes, from the very same
weights, so that the benchmark compares runtimes and not models. Takes the layers the benchmark's
models use: Dense, Conv2D (channels last, strides, 'same' or 'valid' padding), MaxPooling2D,
Flatten, with relu, softmax or linear activations. The input keeps TF.js's layout (rows of
NHWC images for a CNN, symbolic batch dimension); the convolutions run in ONNX's NCHW between a
Transpose in and a Transpose back before Flatten, so that Flatten orders values as TF.js does.

Needs Debian's python3-onnx and python3-numpy (run it with /usr/bin/python3).
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
BATCH = "batch"
ACTIVATIONS = {"relu": "Relu", "softmax": "Softmax", "linear": None}


def read_weights(directory):
    """Weights by name, in the manifest's order over the concatenated shards (as TF.js reads them)."""
    with open(os.path.join(directory, "model.json")) as f:
        model_json = json.load(f)
    data = b"".join(
        open(os.path.join(directory, path), "rb").read() for group in model_json["weightsManifest"] for path in group["paths"]
    )
    weights, offset = {}, 0
    for group in model_json["weightsManifest"]:
        for spec in group["weights"]:
            if spec["dtype"] != "float32" or "quantization" in spec:
                sys.exit(f"weight {spec['name']}: only unquantized float32 weights are exported")
            count = int(np.prod(spec["shape"], dtype=np.int64))
            weights[spec["name"]] = np.frombuffer(data, dtype="<f4", count=count, offset=offset).reshape(spec["shape"])
            offset += 4 * count
    if offset != len(data):
        sys.exit(f"the weight shards hold {len(data)} bytes, the manifest describes {offset}")
    return model_json["modelTopology"], weights


def same_padding(size, kernel, stride):
    """TF's 'same' padding along one axis: (before, after), the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Graph:
    def __init__(self):
        self.nodes, self.initializers, self.count = [], [], 0

    def name(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def node(self, op, inputs, hint, **attrs):
        out = self.name(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def constant(self, array, name):
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name


def export(tfjs_dir, onnx_dir, input_name, output_name):
    topology, weights = read_weights(tfjs_dir)
    layers = topology["config"]["layers"] if isinstance(topology["config"], dict) else topology["config"]
    input_shape = layers[0]["config"]["batch_input_shape"][1:]
    g = Graph()
    x, layout = input_name, "rows" if len(input_shape) == 1 else "nhwc"
    spatial = list(input_shape[:2]) if layout == "nhwc" else None

    for layer in layers:
        kind, config = layer["class_name"], layer["config"]
        name = config["name"]
        if kind == "Conv2D":
            if config.get("data_format", "channels_last") != "channels_last" or config.get("dilation_rate", [1, 1]) != [1, 1]:
                sys.exit(f"{name}: only channels_last convolutions without dilation are exported")
            if layout == "nhwc":
                x, layout = g.node("Transpose", [x], f"{name}_to_nchw", perm=[0, 3, 1, 2]), "nchw"
            kernel = weights[f"{name}/kernel"]  # [kh, kw, in, out]
            (kh, kw), (sh, sw) = kernel.shape[:2], config["strides"]
            pads = [0, 0, 0, 0]
            if config["padding"] == "same":
                (top, bottom), (left, right) = same_padding(spatial[0], kh, sh), same_padding(spatial[1], kw, sw)
                pads = [top, left, bottom, right]
            inputs = [x, g.constant(kernel.transpose(3, 2, 0, 1), f"{name}/kernel")]
            if config.get("use_bias", True):
                inputs.append(g.constant(weights[f"{name}/bias"], f"{name}/bias"))
            x = g.node("Conv", inputs, name, kernel_shape=[kh, kw], strides=[sh, sw], pads=pads)
            spatial = [(spatial[0] + pads[0] + pads[2] - kh) // sh + 1, (spatial[1] + pads[1] + pads[3] - kw) // sw + 1]
        elif kind == "MaxPooling2D":
            if config.get("padding", "valid") != "valid":
                sys.exit(f"{name}: only 'valid' pooling is exported")
            (ph, pw), (sh, sw) = config["pool_size"], config.get("strides") or config["pool_size"]
            x = g.node("MaxPool", [x], name, kernel_shape=[ph, pw], strides=[sh, sw])
            spatial = [(spatial[0] - ph) // sh + 1, (spatial[1] - pw) // sw + 1]
        elif kind == "Flatten":
            if layout == "nchw":
                x = g.node("Transpose", [x], f"{name}_to_nhwc", perm=[0, 2, 3, 1])
            x, layout = g.node("Flatten", [x], name, axis=1), "rows"
        elif kind == "Dense":
            inputs = [x, g.constant(weights[f"{name}/kernel"], f"{name}/kernel")]
            if config.get("use_bias", True):
                inputs.append(g.constant(weights[f"{name}/bias"], f"{name}/bias"))
            x = g.node("Gemm", inputs, name)
        else:
            sys.exit(f"layer {name}: {kind} is not exported")
        activation = config.get("activation", "linear")
        if activation not in ACTIVATIONS:
            sys.exit(f"layer {name}: activation {activation} is not exported")
        if ACTIVATIONS[activation]:
            attrs = {"axis": -1} if activation == "softmax" else {}
            x = g.node(ACTIVATIONS[activation], [x], f"{name}_{activation}", **attrs)

    g.nodes.append(helper.make_node("Identity", [x], [output_name], name=output_name))
    units = layers[-1]["config"]["units"]
    graph = helper.make_graph(
        g.nodes,
        topology["config"].get("name", "tfjs_model") if isinstance(topology["config"], dict) else "tfjs_model",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [BATCH, *input_shape])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [BATCH, units])],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="ml-microservice bench/tfjs_to_onnx.py",
    )
    onnx.checker.check_model(model, full_check=True)
    os.makedirs(onnx_dir, exist_ok=True)
    temporary = os.path.join(onnx_dir, ".model.onnx.tmp")
    with open(temporary, "wb") as f:
        f.write(model.SerializeToString())
    os.replace(temporary, os.path.join(onnx_dir, "model.onnx"))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    export(*sys.argv[1:])

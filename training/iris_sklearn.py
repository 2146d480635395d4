"""Train the tutorial's iris classifier with scikit-learn and publish it as an ONNX model.

usage: /usr/bin/python3 training/iris_sklearn.py [--repository models] [--name iris-sklearn]
                                                 [--version 1] [--expected PATH] [--zipmap PATH]

Trains LogisticRegression(max_iter=1000) on scikit-learn's own iris data, as the tutorial the
service began from does, then writes:

- <repository>/<name>/<version>/model.onnx, the classifier as skl2onnx exports it with the option
  zipmap=False: input "float_input" float32 [N, 4]; a LinearClassifier (ai.onnx.ml) with
  classlabels_ints 0..2 and a SOFTMAX post-transform, then an L1 Normalizer, as skl2onnx emits
  for a multinomial logistic regression; outputs "output_label" int64 [N] and
  "output_probability" float32 [N, 3];
- <repository>/<name>/<version>/metadata.json: labels, feature names, description, training;
- the expected values (default test/fixtures/onnx-iris-sklearn.expected.json): the 150 rows and
  scikit-learn's own predict and predict_proba on them, for the tests;
- with --zipmap PATH, also the model as skl2onnx exports it by default, its probabilities
  turned by a ZipMap node into a sequence of maps (class -> probability), to PATH.

skl2onnx is not packaged for Debian, so the graph is written with onnx.helper; it holds the
nodes and attributes skl2onnx's LogisticRegression converter produces. Needs Debian's
python3-sklearn and python3-onnx (run it with /usr/bin/python3). lbfgs is deterministic, so every
run writes an equivalent model. The model is checked with onnx.checker before it is written.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np
import onnx
import sklearn
from onnx import TensorProto, helper
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

INPUT_NAME = "float_input"
LABEL_OUTPUT = "output_label"
PROBABILITY_OUTPUT = "output_probability"
BATCH_DIM = "N"
ML_DOMAIN = "ai.onnx.ml"
# skl2onnx targets the newest opset the installed onnx knows (17 for Debian's onnx 1.12), and
# version 1 of ai.onnx.ml, where LinearClassifier, Normalizer and ZipMap are defined.
MAIN_OPSET = 17
ML_OPSET = 1
# The service's own iris model names its features this way; the same names keep requests alike.
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def train():
    iris = load_iris()
    model = LogisticRegression(max_iter=1000).fit(iris.data, iris.target)
    return model, iris


def classifier_graph(model, zipmap):
    """The graph skl2onnx's LinearClassifier converter builds for a multinomial LogisticRegression."""
    classes = [int(c) for c in model.classes_]
    n_features = model.coef_.shape[1]
    classifier = helper.make_node(
        "LinearClassifier",
        [INPUT_NAME],
        [LABEL_OUTPUT, "probability_tensor"],
        name="LinearClassifier",
        domain=ML_DOMAIN,
        coefficients=model.coef_.astype(np.float64).ravel().tolist(),
        intercepts=model.intercept_.astype(np.float64).tolist(),
        classlabels_ints=classes,
        # skl2onnx: multi_class=1 for a multinomial model, whose scores a softmax turns into
        # probabilities, then an L1 normalizer makes them sum to 1 exactly.
        multi_class=1,
        post_transform="SOFTMAX",
    )
    probabilities = "probabilities" if zipmap else PROBABILITY_OUTPUT
    normalizer = helper.make_node(
        "Normalizer", ["probability_tensor"], [probabilities], name="Normalizer", domain=ML_DOMAIN, norm="L1"
    )
    nodes = [classifier, normalizer]
    label_info = helper.make_tensor_value_info(LABEL_OUTPUT, TensorProto.INT64, [BATCH_DIM])
    if zipmap:
        nodes.append(
            helper.make_node(
                "ZipMap", [probabilities], [PROBABILITY_OUTPUT], name="ZipMap", domain=ML_DOMAIN, classlabels_int64s=classes
            )
        )
        map_type = onnx.TypeProto()
        map_type.map_type.key_type = TensorProto.INT64
        map_type.map_type.value_type.CopyFrom(helper.make_tensor_type_proto(TensorProto.FLOAT, []))
        probability_info = helper.make_value_info(PROBABILITY_OUTPUT, helper.make_sequence_type_proto(map_type))
    else:
        probability_info = helper.make_tensor_value_info(PROBABILITY_OUTPUT, TensorProto.FLOAT, [BATCH_DIM, len(classes)])
    graph = helper.make_graph(
        nodes,
        "iris_logistic_regression",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [BATCH_DIM, n_features])],
        [label_info, probability_info],
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", MAIN_OPSET), helper.make_opsetid(ML_DOMAIN, ML_OPSET)],
        producer_name="ml-microservice training/iris_sklearn.py",
        producer_version=sklearn.__version__,
        doc_string="LogisticRegression(max_iter=1000) trained on scikit-learn's iris data",
    )
    # onnx 1.12's strict shape inference cannot type ZipMap's sequence of maps; the structural
    # check still runs on that variant.
    onnx.checker.check_model(onnx_model, full_check=not zipmap)
    return onnx_model


def write_atomically(path, data):
    """Writes beside the target and renames, so a server watching the repository never reads half a file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    # mkstemp makes the file private; the server may run as another user (the container's).
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def json_bytes(value, indent=2):
    return (json.dumps(value, indent=indent) + "\n").encode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repository", default=os.path.join(ROOT, "models"))
    parser.add_argument("--name", default="iris-sklearn")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--expected", default=os.path.join(ROOT, "test", "fixtures", "onnx-iris-sklearn.expected.json"))
    parser.add_argument("--zipmap", help="also write the model with skl2onnx's default ZipMap output to this path")
    args = parser.parse_args()

    model, iris = train()
    X = iris.data
    accuracy = float(model.score(X, iris.target))
    labels = [str(name) for name in iris.target_names]
    version_dir = os.path.join(args.repository, args.name, str(args.version))

    metadata = {
        "labels": labels,
        "features": FEATURES,
        "description": (
            "Iris species from sepal and petal measurements (cm): the tutorial's scikit-learn "
            "LogisticRegression, exported to ONNX as skl2onnx does (zipmap=False). Outputs: "
            f"{LABEL_OUTPUT}, the class index into labels; {PROBABILITY_OUTPUT}, one probability per label."
        ),
        "dataset": "Fisher's iris data (150 rows, from scikit-learn's load_iris)",
        "training": {
            "estimator": "sklearn.linear_model.LogisticRegression(max_iter=1000)",
            "sklearn": sklearn.__version__,
            "rows": int(X.shape[0]),
            "trainAccuracy": accuracy,
            "script": "training/iris_sklearn.py",
        },
    }
    write_atomically(os.path.join(version_dir, "model.onnx"), classifier_graph(model, zipmap=False).SerializeToString())
    write_atomically(os.path.join(version_dir, "metadata.json"), json_bytes(metadata))

    expected = {
        "source": "scikit-learn's predict and predict_proba (float64) on load_iris().data, written by training/iris_sklearn.py",
        "sklearn": sklearn.__version__,
        "rows": X.tolist(),
        "predict": [int(v) for v in model.predict(X)],
        "predict_proba": model.predict_proba(X).tolist(),
    }
    write_atomically(args.expected, json_bytes(expected, indent=None))
    written = [version_dir, args.expected]
    if args.zipmap:
        write_atomically(args.zipmap, classifier_graph(model, zipmap=True).SerializeToString())
        written.append(args.zipmap)
    print(f"trained LogisticRegression on iris: train accuracy {accuracy:.3f}; wrote {', '.join(written)}")


if __name__ == "__main__":
    sys.exit(main())

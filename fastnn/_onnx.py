"""skl2onnx shape calculators and converters of fastnn's estimators.

Imported only by :func:`fastnn.onnx.register` (it imports skl2onnx and onnx).
The graph is the network's forward pass, as ``predict_proba`` / ``predict``
compute it: ``Gemm`` (``X W1 + b1``), the hidden activation (``LeakyRelu`` with
``alpha=negative_slope`` included), ``Gemm`` (``A1 W2 + b2``) and the output
function (``Sigmoid``, ``Softmax``, none, ``Exp``). The classifier's outputs are
those of skl2onnx's ``MLPClassifier`` converter: a label tensor and a
probability tensor (``[1 - p, p]`` for binary targets), which skl2onnx's
classifier parser then maps through ``ZipMap`` unless ``zipmap=False``.
"""

import numpy as np
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
    guess_proto_type,
)
from skl2onnx.common.utils import check_input_and_output_numbers
from skl2onnx.common.utils_classifier import get_label_classes
from skl2onnx.proto import onnx_proto

#: fastnn activation names to ONNX operators (``None``: no node).
HIDDEN = {"identity": None, "logistic": "Sigmoid", "sigmoid": "Sigmoid",
          "tanh": "Tanh", "relu": "Relu", "leaky_relu": "LeakyRelu"}
#: ``out_activation_`` to ONNX operators.
OUTPUT = {"logistic": "Sigmoid", "softmax": "Softmax", "identity": None,
          "exp": "Exp"}

CLASSIFIER_ALIAS = "FastnnShallowNNClassifier"
REGRESSOR_ALIAS = "FastnnShallowNNRegressor"
#: The options of skl2onnx's MLPClassifier converter, honoured the same way.
CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"],
                      "output_class_labels": [False, True],
                      "nocl": [True, False]}


def _tensor_type(operator):
    """Double for double inputs, float otherwise (as skl2onnx's MLP converters)."""
    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return DoubleTensorType
    return FloatTensorType


def _proto_dtype(operator):
    """The graph's element type: double for double inputs, float otherwise."""
    if guess_proto_type(operator.inputs[0].type) == onnx_proto.TensorProto.DOUBLE:
        return onnx_proto.TensorProto.DOUBLE
    return onnx_proto.TensorProto.FLOAT


def _multilabel(est):
    return est._label_binarizer.y_type_ == "multilabel-indicator"


def _class_labels(scope, est):
    """The label values the graph outputs: int64 or bytes (``nocl``: indices)."""
    classes = np.asarray(get_label_classes(scope, est))
    if classes.dtype.kind in "OUS":
        return onnx_proto.TensorProto.STRING, np.array(
            [str(c).encode("utf-8") for c in classes])
    as_int = classes.astype(np.int64)
    if not np.array_equal(as_int, classes):
        raise RuntimeError(
            "skl2onnx implicitly converts float class labels into integers but "
            "at least one label is not an integer. Class labels should be "
            "integers or strings."
        )
    return onnx_proto.TensorProto.INT64, as_int


def classifier_shapes(operator):
    """Label ``[N]`` (``[N, n_outputs]`` multilabel) and probabilities ``[N, C]``."""
    check_input_and_output_numbers(operator, input_count_range=1,
                                   output_count_range=2)
    est = operator.raw_operator
    N = operator.inputs[0].get_first_dimension()
    if _multilabel(est):
        label, width = Int64TensorType([N, est.n_outputs_]), est.n_outputs_
    else:
        kind, classes = _class_labels(operator.scope_inst, est)
        string = kind == onnx_proto.TensorProto.STRING
        label = (StringTensorType if string else Int64TensorType)([N])
        width = len(classes)
    operator.outputs[0].type = label
    operator.outputs[1].type = _tensor_type(operator)([N, width])


def regressor_shapes(operator):
    """Predictions ``[N, n_outputs]`` (``[N, 1]`` for one output, as skl2onnx)."""
    check_input_and_output_numbers(operator, input_count_range=1,
                                   output_count_range=1)
    N = operator.inputs[0].get_first_dimension()
    est = operator.raw_operator
    operator.outputs[0].type = _tensor_type(operator)([N, est.n_outputs_])


def _dense(scope, container, x, coef, intercept, proto_dtype):
    """``Gemm``: ``x @ coef + intercept``, the weights in the graph's dtype."""
    name = scope.get_unique_variable_name
    dtype = np.float64 if proto_dtype == onnx_proto.TensorProto.DOUBLE else np.float32
    w, b, z = name("coefficient"), name("intercepts"), name("add_result")
    container.add_initializer(w, proto_dtype, coef.shape,
                              np.asarray(coef, dtype).ravel())
    container.add_initializer(b, proto_dtype, [intercept.shape[0]],
                              np.asarray(intercept, dtype))
    container.add_node("Gemm", [x, w, b], z,
                       name=scope.get_unique_operator_name("Gemm"))
    return z


def _activate(scope, container, z, op, **attrs):
    """``op(z)`` (``z`` itself when ``op`` is None)."""
    if op is None:
        return z
    a = scope.get_unique_variable_name("activations")
    container.add_node(op, z, a, name=scope.get_unique_operator_name(op), **attrs)
    return a


def _leaky_relu_where(scope, container, z, slope, proto_dtype):
    """``Where(z > 0, z, slope * z)``: ``LeakyRelu`` for double graphs, which
    onnxruntime's CPU provider implements for float only."""
    name = scope.get_unique_variable_name
    s, zero, scaled, positive, a = (name("slope"), name("zero"), name("scaled"),
                                    name("positive"), name("activations"))
    container.add_initializer(s, proto_dtype, [], [float(slope)])
    container.add_initializer(zero, proto_dtype, [], [0.0])
    op = scope.get_unique_operator_name
    container.add_node("Mul", [z, s], scaled, name=op("Mul"))
    container.add_node("Greater", [z, zero], positive, name=op("Greater"))
    container.add_node("Where", [positive, z, scaled], a, name=op("Where"))
    return a


def _forward(scope, operator, container, proto_dtype):
    """The output layer's activations of the (cast) input; returns their name."""
    est = operator.raw_operator
    x = scope.get_unique_variable_name("cast_input")
    container.add_node("Cast", operator.inputs[0].full_name, x, to=proto_dtype,
                       name=scope.get_unique_operator_name("Cast"))
    (W1, W2), (b1, b2) = est.coefs_, est.intercepts_
    z1 = _dense(scope, container, x, W1, b1, proto_dtype)
    hidden = HIDDEN[est.activation]
    if hidden == "LeakyRelu" and proto_dtype == onnx_proto.TensorProto.DOUBLE:
        a1 = _leaky_relu_where(scope, container, z1, est.negative_slope, proto_dtype)
    elif hidden == "LeakyRelu":
        a1 = _activate(scope, container, z1, hidden,
                       alpha=float(est.negative_slope))
    else:
        a1 = _activate(scope, container, z1, hidden)
    z2 = _dense(scope, container, a1, W2, b2, proto_dtype)
    output = OUTPUT[est.out_activation_]
    return _activate(scope, container, z2, output,
                     **({"axis": 1} if output == "Softmax" else {}))


def convert_classifier(scope, operator, container):
    """Labels and probabilities, as ``predict`` and ``predict_proba``."""
    est = operator.raw_operator
    if len(est.classes_) == 1 and not _multilabel(est):
        raise RuntimeError(
            "A ShallowNNClassifier fitted on a single class cannot be converted "
            "to ONNX: it always predicts that class."
        )
    proto_dtype = _proto_dtype(operator)
    label, proba = operator.outputs[0].full_name, operator.outputs[1].full_name
    p = _forward(scope, operator, container, proto_dtype)
    name = scope.get_unique_variable_name
    if _multilabel(est):
        # predict's LabelBinarizer.inverse_transform: p > 0.5 per output.
        half, above = name("threshold"), name("above")
        container.add_initializer(half, proto_dtype, [], [0.5])
        container.add_node("Identity", p, proba,
                           name=scope.get_unique_operator_name("Identity"))
        container.add_node("Greater", [p, half], above,
                           name=scope.get_unique_operator_name("Greater"))
        container.add_node("Cast", above, label, to=onnx_proto.TensorProto.INT64,
                           name=scope.get_unique_operator_name("Cast"))
        return
    if est.n_outputs_ == 1:
        one, negative = name("unity"), name("negative_class_proba")
        container.add_initializer(one, proto_dtype, [], [1.0])
        container.add_node("Sub", [one, p], negative,
                           name=scope.get_unique_operator_name("Sub"))
        container.add_node("Concat", [negative, p], proba, axis=1,
                           name=scope.get_unique_operator_name("Concat"))
    else:
        container.add_node("Identity", p, proba,
                           name=scope.get_unique_operator_name("Identity"))
    # The first class of highest probability, as predict (p > 0.5 for binary).
    kind, classes = _class_labels(scope, est)
    values, index = name("classes"), name("argmax_output")
    container.add_initializer(values, kind, classes.shape, classes)
    container.add_node("ArgMax", proba, index, axis=1, keepdims=0,
                       name=scope.get_unique_operator_name("ArgMax"))
    container.add_node("Gather", [values, index], label, axis=0,
                       name=scope.get_unique_operator_name("Gather"))


def convert_regressor(scope, operator, container):
    """Predictions ``[N, n_outputs]``, as ``predict`` (2-D for one output)."""
    p = _forward(scope, operator, container, _proto_dtype(operator))
    container.add_node("Identity", p, operator.outputs[0].full_name,
                       name=scope.get_unique_operator_name("Identity"))

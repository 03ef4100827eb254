"""
Export to ONNX and predict with onnxruntime
===========================================

With skl2onnx installed (``pip install "fastnn-shallow[onnx]"``),
``skl2onnx.to_onnx`` converts fastnn's estimators with fastnn's own converters
(registered when both are imported): the graph is the forward pass, ``Gemm``, the
activation, ``Gemm``, the output function. onnxruntime then predicts without
Python's fastnn, Numba or scikit-learn. Here a float32 classifier of the flower,
converted, run, and compared with fastnn's predictions on a grid of points.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.exceptions import ConvergenceWarning

from fastnn import ShallowNNClassifier, make_flower

# Fits of a fixed number of epochs warn that they stopped before converging, as
# MLP's do: intended here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_flower()
X = X.astype(np.float32)
clf = ShallowNNClassifier(n_hidden=8, activation="tanh", max_iter=2000,
                          learning_rate_init=0.01, random_state=0).fit(X, y)
onx = to_onnx(clf, X[:1], options={"zipmap": False})
print("graph nodes:", [node.op_type for node in onx.graph.node])

session = ort.InferenceSession(onx.SerializeToString(),
                               providers=["CPUExecutionProvider"])
xx, yy = np.meshgrid(np.linspace(-4.5, 4.5, 200), np.linspace(-4.5, 4.5, 200))
grid = np.c_[xx.ravel(), yy.ravel()].astype(np.float32)
labels, proba = session.run(None, {"X": grid})
print("labels equal fastnn's:", np.array_equal(labels, clf.predict(grid)))
print(f"largest probability difference: "
      f"{np.max(np.abs(proba - clf.predict_proba(grid))):.1e}")

# %%
# The probability of the second class, as onnxruntime computes it:
fig, ax = plt.subplots(figsize=(5, 4.5), layout="constrained")
mesh = ax.contourf(xx, yy, proba[:, 1].reshape(xx.shape), levels=20, cmap="Spectral")
ax.scatter(X[:, 0], X[:, 1], c=y, cmap="Spectral", s=8, edgecolors="k",
           linewidths=0.3)
ax.set_title("P(class 1) from the ONNX graph (onnxruntime)")
fig.colorbar(mesh, label="P(class 1)")

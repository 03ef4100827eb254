"""fastnn: shallow neural networks compiled with Numba.

``ShallowNNClassifier`` and ``ShallowNNRegressor`` are drop-in, many-times-faster
replacements for ``sklearn.neural_network.MLPClassifier`` and ``MLPRegressor``
with ``hidden_layer_sizes=(n_hidden,)``.
"""

from . import onnx
from ._classifier import ShallowNNClassifier
from ._compile import precompile
from ._numba_cache import DamagedCacheWarning
from ._plot import LossCurveDisplay
from ._regressor import ShallowNNRegressor
from .datasets import make_flower

__all__ = [
    "DamagedCacheWarning",
    "LossCurveDisplay",
    "ShallowNNClassifier",
    "ShallowNNRegressor",
    "make_flower",
    "precompile",
]
__version__ = "0.1.0"

# skl2onnx finds fastnn's converters once both are imported, in either order;
# neither skl2onnx nor onnx is imported here (fastnn.onnx).
onnx._install()

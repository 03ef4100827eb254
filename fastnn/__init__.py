"""fastnn: a shallow neural network classifier compiled with Numba.

``ShallowNNClassifier`` is a drop-in, many-times-faster replacement for
``sklearn.neural_network.MLPClassifier(hidden_layer_sizes=(n_hidden,))``.
"""

from ._classifier import ShallowNNClassifier
from ._compile import precompile
from .datasets import make_flower

__all__ = ["ShallowNNClassifier", "make_flower", "precompile"]
__version__ = "0.1.0"

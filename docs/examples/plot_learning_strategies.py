"""
Stochastic learning strategies, fastnn beside MLPClassifier
===========================================================

scikit-learn's example "Compare Stochastic learning strategies for MLPClassifier"
(``plot_mlp_training_curves.py``) trains seven strategies (constant and
inverse-scaling learning rates, with and without momentum and Nesterov's momentum,
and Adam) on four small data sets and draws their training loss. Here it runs
twice, with fastnn and with MLPClassifier, on the same parameters: the curves are
the same, and fastnn's 28 fits take a fraction of the time.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import MinMaxScaler

from fastnn import ShallowNNClassifier

# Fits of a fixed number of epochs warn that they stopped before converging, as
# MLP's do: intended here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

# The strategies of scikit-learn's example.
params = [
    {"solver": "sgd", "learning_rate": "constant", "momentum": 0,
     "learning_rate_init": 0.2},
    {"solver": "sgd", "learning_rate": "constant", "momentum": 0.9,
     "nesterovs_momentum": False, "learning_rate_init": 0.2},
    {"solver": "sgd", "learning_rate": "constant", "momentum": 0.9,
     "nesterovs_momentum": True, "learning_rate_init": 0.2},
    {"solver": "sgd", "learning_rate": "invscaling", "momentum": 0,
     "learning_rate_init": 0.2},
    {"solver": "sgd", "learning_rate": "invscaling", "momentum": 0.9,
     "nesterovs_momentum": False, "learning_rate_init": 0.2},
    {"solver": "sgd", "learning_rate": "invscaling", "momentum": 0.9,
     "nesterovs_momentum": True, "learning_rate_init": 0.2},
    {"solver": "adam", "learning_rate_init": 0.01},
]
labels = ["constant learning-rate", "constant with momentum",
          "constant with Nesterov's momentum", "inv-scaling learning-rate",
          "inv-scaling with momentum", "inv-scaling with Nesterov's momentum",
          "adam"]
styles = [{"c": "red", "ls": "-"}, {"c": "green", "ls": "-"},
          {"c": "blue", "ls": "-"}, {"c": "red", "ls": "--"},
          {"c": "green", "ls": "--"}, {"c": "blue", "ls": "--"},
          {"c": "black", "ls": "-"}]

iris = datasets.load_iris()
X_digits, y_digits = datasets.load_digits(return_X_y=True)
data_sets = {
    "iris": (iris.data, iris.target),
    "digits": (X_digits, y_digits),
    "circles": datasets.make_circles(noise=0.2, factor=0.5, random_state=1),
    "moons": datasets.make_moons(noise=0.3, random_state=0),
}
systems = {
    "fastnn": lambda p: ShallowNNClassifier(n_hidden=100, random_state=0,
                                            max_iter=400, **p),
    "MLPClassifier": lambda p: MLPClassifier(hidden_layer_sizes=(100,),
                                             random_state=0, max_iter=400, **p),
}

fig, axes = plt.subplots(4, 2, figsize=(11, 14), layout="constrained")
seconds = dict.fromkeys(systems, 0.0)
final = {name: [] for name in systems}
for row, (data_name, (X, y)) in enumerate(data_sets.items()):
    X = MinMaxScaler().fit_transform(X)
    # digits is larger: fewer epochs, as in scikit-learn's example
    max_iter = 15 if data_name == "digits" else 400
    for column, (system, make) in enumerate(systems.items()):
        ax = axes[row, column]
        for label, param, style in zip(labels, params, styles, strict=True):
            model = make(param).set_params(max_iter=max_iter)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=ConvergenceWarning)
                start = time.perf_counter()
                model.fit(X, y)
                seconds[system] += time.perf_counter() - start
            final[system].append(model.loss_)
            ax.plot(model.loss_curve_, label=label, **style)
        ax.set_title(f"{data_name}: {system}")
        ax.set_xlabel("epoch")
axes[0, 0].set_ylabel("training loss")
fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center",
           ncol=3)

# %%
# The final losses of the 28 fits agree to rounding, and fastnn's fits took:
ratio = np.max(np.abs(np.subtract(final["fastnn"], final["MLPClassifier"]))
               / np.abs(final["MLPClassifier"]))
print(f"largest relative difference of the 28 final losses: {ratio:.1e}")
for system, total in seconds.items():
    print(f"{system}: 28 fits in {total:.2f} s")

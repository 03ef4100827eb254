"""
The hidden-layer size study
===========================

The lecture's experiment: the same network with 1, 2, 3, 4, 5, 20 and 50 hidden
units on the flower data, 5000 epochs of gradient descent each, then the 4-unit
network on four other data sets. :func:`fastnn.study.run_study` fits everything;
:func:`fastnn.study.format_study` prints the tables, with the lecture's accuracies
beside fastnn's; :func:`fastnn.study.plot_study` draws the figures (here shown
from the PNG files it writes).
"""

import tempfile
import warnings

import matplotlib.pyplot as plt

from fastnn.study import format_study, plot_study, run_study

# The lecture's baseline, LogisticRegressionCV, announces changes of its defaults
# (FutureWarning) that do not change its result here.
warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")

result = run_study()
print(format_study(result))

# %%
# The decision regions of each size, and of the logistic regression:
with tempfile.TemporaryDirectory() as out:
    paths = plot_study(result, out, dpi=70)
    images = [plt.imread(path) for path in paths]

for image, title in zip(images, ["Decision regions on the flower",
                                 "Training loss per epoch",
                                 "The lecture's other data sets"], strict=True):
    height, width = image.shape[:2]
    fig = plt.figure(figsize=(width / 70, height / 70))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(image)
    ax.set_axis_off()
    fig.suptitle(title, y=1.04)

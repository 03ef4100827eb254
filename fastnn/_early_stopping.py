"""The held-out split of early stopping, made as MLPClassifier makes it."""

import numpy as np

from .ops.bundles import row_indices


def validation_split(Y, validation_fraction, random_state, stratify):
    """``(train_rows, val_rows)`` of the targets ``Y``, split on MLP's RNG.

    MLPClassifier stratifies single-output targets only (binary or one class;
    not multiclass or multilabel) and on its bool indicator: the same split as
    on the 0/1 floats, and ``train_test_split``'s errors name the same classes
    ('True', not '1'). MLPRegressor never stratifies (``stratify=False``).
    """
    stratify = Y == 1 if stratify else None  # (n, 1), as MLP passes it
    # Imported here: sklearn.model_selection is slow to import (cold start).
    from sklearn.model_selection import train_test_split

    train, val = train_test_split(
        row_indices(Y.shape[0]),
        random_state=random_state,
        test_size=validation_fraction,
        stratify=stratify,
    )
    if val.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset."
        )
    return np.ascontiguousarray(train), np.ascontiguousarray(val)

"""Fingerprints of fits across the kernels' paths, to compare two versions bit for bit.

    python benches/fingerprint.py out.json            # every configuration
    python benches/fingerprint.py out.json --compare ref.json

Each configuration (activation, output, solver, dtype, dense or sparse, hand loops
or BLAS, serial or threaded blocks, early stopping, sample weights) is fitted with
a fixed seed; the fingerprint is the SHA-256 of its coefficients, intercepts, loss
curve (and validation scores) and predict_proba. ``--compare`` prints which
configurations differ from a reference file and by how much (max relative
difference of the predicted outputs), and exits 1 if any does.
"""

import argparse
import hashlib
import json
import sys
import warnings

import numpy as np
import scipy.sparse as sp


def _data(n, d, n_classes, dtype, seed=0, sparse=False):
    rs = np.random.RandomState(seed)
    if sparse:
        X = sp.random(n, d, density=0.05, format="csr", random_state=rs,
                      dtype=dtype)
    else:
        X = rs.randn(n, d).astype(dtype)
    y = rs.randint(0, n_classes, n) if n_classes else rs.randn(n).astype(dtype)
    return X, y


def configurations():
    """``(name, estimator class name, params, data kwargs, fit kwargs)``."""
    out = []
    for dtype in ("float64", "float32"):
        for act in ("logistic", "tanh", "relu", "leaky_relu", "identity"):
            for h, d in ((4, 2), (16, 20)):  # hand loops, BLAS
                for solver, extra in (("gd", {"learning_rate_init": 0.5}),
                                      ("sgd", {"nesterovs_momentum": False}),
                                      ("sgd", {"learning_rate": "invscaling"}),
                                      ("adam", {})):
                    name = f"{dtype}-{act}-{h}x{d}-{solver}-{sorted(extra)}"
                    out.append((name, "ShallowNNClassifier",
                                {"n_hidden": h, "activation": act, "solver": solver,
                                 "max_iter": 7, **extra},
                                {"n": 300, "d": d, "n_classes": 3, "dtype": dtype},
                                {}))
        for classes in (2, 3):
            out.append((f"{dtype}-binary-or-multi{classes}-weights-early",
                        "ShallowNNClassifier",
                        {"n_hidden": 8, "early_stopping": True, "max_iter": 12,
                         "batch_size": 64},
                        {"n": 400, "d": 5, "n_classes": classes, "dtype": dtype},
                        {"sample_weight": True}))
        for loss in ("squared_error", "poisson"):
            out.append((f"{dtype}-regressor-{loss}-early", "ShallowNNRegressor",
                        {"n_hidden": 12, "loss": loss, "early_stopping": True,
                         "max_iter": 10},
                        {"n": 400, "d": 6, "n_classes": 0, "dtype": dtype,
                         "poisson": loss == "poisson"}, {}))
        out.append((f"{dtype}-lbfgs", "ShallowNNClassifier",
                    {"n_hidden": 16, "activation": "tanh", "solver": "lbfgs",
                     "max_iter": 30},
                    {"n": 300, "d": 10, "n_classes": 3, "dtype": dtype}, {}))
        out.append((f"{dtype}-sparse", "ShallowNNClassifier",
                    {"n_hidden": 32, "max_iter": 4},
                    {"n": 600, "d": 300, "n_classes": 3, "dtype": dtype,
                     "sparse": True}, {}))
        out.append((f"{dtype}-sparse-lbfgs", "ShallowNNClassifier",
                    {"n_hidden": 8, "solver": "lbfgs", "max_iter": 15},
                    {"n": 300, "d": 200, "n_classes": 2, "dtype": dtype,
                     "sparse": True}, {}))
        # Threaded blocks and threaded updates (2 cores): big batches, many weights.
        out.append((f"{dtype}-threaded", "ShallowNNClassifier",
                    {"n_hidden": 128, "max_iter": 2, "batch_size": 1024,
                     "early_stopping": True},
                    {"n": 6000, "d": 150, "n_classes": 4, "dtype": dtype}, {}))
    out.append(("seed", "ShallowNNClassifier",
                {"n_hidden": 4, "activation": "tanh", "solver": "gd",
                 "learning_rate_init": 1.2, "max_iter": 300, "tol": 0.0},
                {"flower": True}, {}))
    return out


def fingerprint(cls_name, params, data, fit_kwargs):
    import fastnn

    if data.get("flower"):
        X, y = fastnn.make_flower()
    else:
        data = dict(data)
        poisson = data.pop("poisson", False)
        X, y = _data(**data)
        if poisson:
            y = np.abs(y)
    kwargs = {}
    if fit_kwargs.get("sample_weight"):
        kwargs["sample_weight"] = np.linspace(0.5, 2.0, X.shape[0])
    model = getattr(fastnn, cls_name)(random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, **kwargs)
    out = (model.predict_proba(X) if hasattr(model, "predict_proba")
           else model.predict(X))
    parts = [*model.coefs_, *model.intercepts_, np.asarray(model.loss_curve_),
             np.asarray(getattr(model, "validation_scores_", None) or []), out]
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(p).tobytes()
                                     for p in parts)).hexdigest()
    return digest, np.asarray(out, dtype=np.float64).ravel().tolist()


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--compare")
    parser.add_argument("--only")
    args = parser.parse_args(argv)
    results = {}
    for name, cls_name, params, data, fit_kwargs in configurations():
        if args.only and args.only not in name:
            continue
        results[name] = fingerprint(cls_name, params, data, fit_kwargs)
    with open(args.out, "w") as f:
        json.dump(results, f)
    if not args.compare:
        print(f"{len(results)} fingerprints")
        return 0
    with open(args.compare) as f:
        ref = json.load(f)
    differ = 0
    for name, (digest, out) in results.items():
        if ref[name][0] != digest:
            differ += 1
            a, b = np.asarray(out), np.asarray(ref[name][1])
            rel = np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))
            print(f"differs: {name} (max relative difference of outputs {rel:.2e})")
    print(f"{len(results) - differ} of {len(results)} bit-identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())

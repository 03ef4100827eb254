"""What the shallow-network estimators share: the fit flow over a backend.

A concrete estimator (:class:`fastnn.ShallowNNClassifier`) supplies its public
face and the parts that depend on its targets: how ``y`` becomes the 0/1 or
real-valued matrix ``Y`` the kernels train on (:meth:`_encode_targets`), the
output function (:meth:`_out_activation`), sample weights from its options
(:meth:`_sample_weight`) and whether every validation prediction counts as
right (:meth:`_trivial_score`).
Everything else (validation, initialisation, the backend, the solvers and their
bookkeeping) is here and in the modules it calls.
"""

import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions

from . import _backends, _callbacks, _early_stopping, _epochs, _initialization
from ._lbfgs import fit_lbfgs
from ._numba_cache import will_compile
from ._validation import check_sample_weight
from .ops import activations as act_ops
from .ops import losses as loss_ops
from .ops import optimizers as opt_ops
from .ops import schedules
from .ops.bundles import Data, Network, Params, Solver, row_indices
from .ops.layout import Layout

#: Fitted attributes renamed since a release, ``{old name: new name}``, in the
#: order of the renames (a chain a -> b -> c migrates in one load): a model saved
#: under an old name loads with the new one (``__setstate__``). To rename a
#: fitted attribute, add an entry with the release that renamed it, e.g.
#: ``"_optimizer": "_optimizer_state",  # 0.2.0``, and keep the fixtures of
#: every release loading (``tests/fixtures/persistence``,
#: ``tests/test_persistence.py``); never remove an entry. A change of an
#: attribute's value or type needs its own step in ``__setstate__``.
RENAMED_ATTRIBUTES: dict[str, str] = {}


class BaseShallowNN(_callbacks.CallbackSupportMixin, BaseEstimator):
    """Fit flow of a one-hidden-layer network; see :class:`ShallowNNClassifier`.

    Holds the parameter constraints both estimators share (each adds its own:
    ``class_weight``, ``loss``), and scikit-learn's callbacks
    (``set_callbacks``; :mod:`fastnn._callbacks`).
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_hidden": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(act_ops.CODES))],
        "solver": [StrOptions({*opt_ops.CODES, "lbfgs"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions(set(opt_ops.SCHEDULES))],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "progress_bar": ["boolean"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "negative_slope": [Interval(Real, 0, None, closed="left")],
        "init": [StrOptions({"glorot", "normal"})],
        "device": [StrOptions({"cpu", "cuda", "auto"})],
    }

    def __getstate__(self):
        """scikit-learn's state, with the fastnn release that saved it."""
        from . import __version__  # not at import time: fastnn is importing us

        return dict(super().__getstate__(), _fastnn_version=__version__)

    def __setstate__(self, state):
        """Load a state of this or an earlier release (``RENAMED_ATTRIBUTES``).

        States without ``_fastnn_version`` are of 0.1.0. scikit-learn's own
        ``__setstate__`` runs last; its ``InconsistentVersionWarning`` concerns
        scikit-learn's classes only (a classifier's label binarizer).
        """
        state.pop("_fastnn_version", None)  # no migration depends on it yet
        for old, new in RENAMED_ATTRIBUTES.items():
            if old in state:
                state[new] = state.pop(old)
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR and CSC, on the CPU (fastnn.cpu.sparse)
        return tags

    def _fit(self, X, y, sample_weight, incremental):
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        backend = _backends.for_fit(self.device, self.solver, X)
        X, y = backend.validate(self, X, y, reset=first_pass)
        if not first_pass:
            X = backend.as_dtype(X, self.coefs_[0].dtype)
        Y = self._encode_targets(y, incremental, X.dtype)
        sw = self._sample_weight(sample_weight, X, y)
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(X.shape[1], Y.shape[1], X.dtype)
        self.device_ = backend.name
        theta = _initialization.from_layers(self.coefs_, self.intercepts_)
        data = Data(X, Y, sw)
        # partial_fit is one epoch of a longer fit: callbacks follow fit only.
        callbacks = None if incremental else _callbacks.for_fit(
            self, X, y, sample_weight, self.max_iter)
        if self.solver == "lbfgs":
            loss_grad = backend.loss_grad(data, self._network(X.dtype),
                                          float(self.alpha), self._announce_compile)
            fit_lbfgs(self, loss_grad, theta, callbacks)
        else:
            self._fit_stochastic(backend, data, theta, incremental, callbacks)
        self.coefs_, self.intercepts_ = _initialization.to_layers(self._layout(),
                                                                   theta)
        if callbacks is not None:
            callbacks.fit_ends()
        return self

    def _epoch_attributes(self, theta):
        """The fitted attributes as of an epoch's end with weights ``theta`` (a
        copy): what a callback's ``fitted_estimator`` holds."""
        coefs, intercepts = _initialization.to_layers(self._layout(), theta)
        attributes = {"coefs_": coefs, "intercepts_": intercepts,
                      "n_iter_": self.n_iter_, "t_": self.t_}
        if self.solver != "lbfgs":
            attributes.update(loss_=self.loss_, loss_curve_=list(self.loss_curve_))
        if self.early_stopping and self.solver != "lbfgs":
            attributes.update(validation_scores_=list(self.validation_scores_),
                              validation_loss_curve_=list(
                                  self.validation_loss_curve_))
        return attributes

    def _initialize(self, n_features, n_outputs, dtype):
        """Initial weights and fitted attributes, as MLP sets them."""
        self.n_outputs_ = n_outputs
        self.n_layers_ = 3
        self.out_activation_ = self._out_activation()
        layout = Layout.of(n_features, self.n_hidden, n_outputs)
        if self.init == "normal":
            theta = _initialization.lecture_normal(self._random_state, layout, dtype)
        else:
            logistic = act_ops.CODES[self.activation] == act_ops.LOGISTIC
            theta = _initialization.glorot_uniform(self._random_state, layout,
                                                   logistic, dtype)
        self.coefs_, self.intercepts_ = _initialization.to_layers(layout, theta)
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self._optimizer = None
        self._best_theta = theta
        if self.early_stopping:
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.validation_loss_curve_ = None
            self.best_validation_score_ = None

    def _layout(self):
        return Layout.of(self.coefs_[0].shape[0], self.n_hidden, self.n_outputs_)

    def _network(self, dtype):
        """The :class:`~fastnn.ops.bundles.Network` every kernel takes."""
        return Network(
            layout=self._layout(),
            activation=act_ops.CODES[self.activation],
            slope=float(self.negative_slope),
            output=loss_ops.OUTPUTS[self.out_activation_],
            eps=float(np.finfo(dtype).eps),
        )

    def _solver(self, batch_size):
        """The :class:`~fastnn.ops.bundles.Solver` of the epoch loops."""
        return Solver(
            kind=opt_ops.CODES[self.solver],
            schedule=opt_ops.SCHEDULES[self.learning_rate],
            batch_size=int(batch_size),
            learning_rate_init=float(self.learning_rate_init),
            power_t=float(self.power_t),
            momentum=float(self.momentum),
            nesterov=bool(self.nesterovs_momentum),
            beta_1=float(self.beta_1),
            beta_2=float(self.beta_2),
            epsilon=float(self.epsilon),
            alpha=float(self.alpha),
            tol=float(self.tol),
            n_iter_no_change=float(self.n_iter_no_change),
        )

    def _batch_size(self, n_samples):
        if self.solver == "gd":
            return n_samples
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is "
                "going to be clipped",
                stacklevel=5,
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    def _validation_split(self, Y):
        """Training and validation rows, split as MLP splits them: stratified for
        single-output classification only."""
        return _early_stopping.validation_split(
            Y, self.validation_fraction, self._random_state,
            stratify=is_classifier(self) and Y.shape[1] == 1,
        )

    def _sample_weight(self, sample_weight, X, y):
        """The validated ``sample_weight`` (ones when None), in ``X``'s dtype."""
        return check_sample_weight(sample_weight, X)

    def _trivial_score(self):
        """Whether every validation prediction counts as right (a one-class fit)."""
        return False

    def _check_solver(self):
        if self.solver not in opt_ops.CODES:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. "
                f"{self.solver} is not stochastic."
            )
        return True

    def _resumed_state(self, theta, incremental):
        """The kernels' ``state`` and optimizer slots, resumed where they were."""
        if self.early_stopping:
            score = self.best_validation_score_  # a score of 0.0 is kept
            best = np.inf if score is None else -score
        else:
            best = np.inf if self.best_loss_ is None else self.best_loss_
        state = np.zeros(schedules.N_STATE)
        state[schedules.BEST] = best
        state[schedules.NO_IMPROVEMENT] = self._no_improvement_count
        state[schedules.T] = self.t_
        if incremental and self._optimizer is not None:
            lr, step, slot1, slot2 = self._optimizer
        else:
            lr, step = self.learning_rate_init, 0.0
            slot1, slot2 = np.zeros_like(theta), np.zeros_like(theta)
        state[schedules.LR], state[schedules.STEP] = lr, step
        return Params(theta, slot1, slot2, np.stack([theta, theta]),
                      np.ascontiguousarray(self._best_theta, dtype=theta.dtype),
                      state)

    def _fit_stochastic(self, backend, data, theta, incremental, callbacks):
        """Run the epochs of gd / sgd / adam, resuming the optimizer if asked."""
        if self.early_stopping:
            train_rows, val_rows = self._validation_split(data.Y)
            if self.validation_scores_ is None:  # warm start that turned it on
                self.validation_scores_ = []
            if self.validation_loss_curve_ is None:
                self.validation_loss_curve_ = []
        else:
            train_rows = row_indices(data.X.shape[0])
            val_rows = train_rows[:0]
        params = self._resumed_state(theta, incremental)
        setup = _epochs.Setup(
            data=data, net=self._network(data.X.dtype),
            solver=self._solver(self._batch_size(train_rows.shape[0])),
            params=params, train_rows=train_rows, val_rows=val_rows,
            trivial_score=self._trivial_score(),
            shuffle=self.shuffle and self.solver != "gd",
            random_state=self._random_state,
        )
        self.n_iter_ = 0
        max_epochs = 1 if incremental else self.max_iter
        with backend.epochs(setup, self._announce_compile) as run:
            status = _epochs.train(self, run, max_epochs, params.state, callbacks)
        state = params.state
        self._optimizer = (state[schedules.LR], state[schedules.STEP], params.slot1,
                           params.slot2)
        self._no_improvement_count = int(state[schedules.NO_IMPROVEMENT])
        self.t_ = int(state[schedules.T])
        if self.early_stopping:
            self.best_validation_score_ = -float(state[schedules.BEST])
            self._best_theta = params.best
            theta[:] = params.best
        else:
            self.best_loss_ = float(state[schedules.BEST])
        _epochs.report_end(self, status, incremental)

    def _announce_compile(self, *calls):
        """With verbose or progress_bar, say so when one of the calls
        ``(kernel, args)`` compiles."""
        if (self.verbose or self.progress_bar) and any(
                will_compile(kernel, args) for kernel, args in calls):
            data = calls[-1][1][0]  # the fit's kernel takes the data first
            print(f"Compiling fastnn's {data.X.dtype} kernels for this "
                  "configuration (first use only: the Numba cache keeps them; "
                  "`python -m fastnn compile` bakes them in advance) ...",
                  flush=True)

    def _forward(self, X):
        """Validated ``X``'s output activations, shape (n_samples, n_outputs)."""
        backend, X = _backends.validated_for_predict(self, X)
        theta = _initialization.from_layers(self.coefs_, self.intercepts_)
        return backend.forward(X, self._network(theta.dtype), theta)

    def to_sklearn(self):
        """The equivalent fitted scikit-learn estimator.

        An ``MLPClassifier`` (or ``MLPRegressor``) with
        ``hidden_layer_sizes=(n_hidden,)``, this model's weights (copied, in
        their dtype) and fitted attributes, and the optimizer state: its
        ``predict``, ``predict_proba`` and ``score`` equal this model's, and its
        ``partial_fit`` continues this model's training. It needs only
        scikit-learn to load (joblib) and works with every tool that knows MLP.

        Parameters map by name; ``activation='sigmoid'`` becomes
        ``'logistic'``; ``solver='gd'`` becomes ``'sgd'`` with ``momentum=0``,
        ``shuffle=False`` and ``batch_size`` the rows of one epoch of the fit
        (``t_ // n_iter_``). ``init``, ``class_weight``, ``negative_slope``,
        ``progress_bar`` and ``device`` have no MLP counterpart: the fitted
        weights need none, but a fresh ``fit`` of the export draws MLP's
        Glorot weights (as ``init='glorot'``) and weights no class.

        Returns
        -------
        mlp : MLPClassifier or MLPRegressor
            The fitted scikit-learn estimator.

        Raises
        ------
        NotFittedError
            If the model is not fitted.
        ValueError
            If ``activation='leaky_relu'``, which MLP does not have (export
            to ONNX instead).
        """
        from ._export import to_sklearn  # imports sklearn.neural_network

        return to_sklearn(self)

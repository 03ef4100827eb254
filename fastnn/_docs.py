"""The estimators' shared docstring sections, written once.

Both estimators take the same training parameters and set the same fitted
attributes; :func:`parameters_and_attributes` fills in what differs (the MLP
twin's name, the validation score, the extra parameters and attributes).
"""

_TEMPLATE = """\
    Parameters
    ----------
    n_hidden : int, default=100
        Number of units in the hidden layer.

    activation : {{'identity', 'logistic', 'sigmoid', 'tanh', 'relu', \
'leaky_relu'}}, default='relu'
        Activation function of the hidden layer. ``'sigmoid'`` is an alias of
        ``'logistic'``; ``'leaky_relu'`` returns ``max(x, negative_slope * x)``.

{extra_first}    solver : {{'adam', 'sgd', 'gd', 'lbfgs'}}, default='adam'
        The solver for weight optimization. ``'gd'`` is full-batch gradient
        descent ({mlp}'s ``'sgd'`` with ``batch_size=n_samples`` and
        ``momentum=0``); it ignores ``batch_size``, ``shuffle`` and the momentum
        parameters. ``'lbfgs'`` is scipy's L-BFGS-B on the full-batch loss, as
        in {mlp}; it has no ``partial_fit`` and ignores early stopping.

    alpha : float, default=0.0001
        Strength of the L2 regularization term, divided by the sample size when
        added to the loss.

    batch_size : int or 'auto', default='auto'
        Size of minibatches for ``'sgd'`` and ``'adam'``. ``'auto'`` means
        ``min(200, n_samples)``.

    learning_rate : {{'constant', 'invscaling', 'adaptive'}}, default='constant'
        Learning rate schedule for ``'sgd'`` and ``'gd'``, as in {mlp}.

    learning_rate_init : float, default=0.001
        The initial learning rate.

    power_t : float, default=0.5
        Exponent of the ``'invscaling'`` schedule.

    max_iter : int, default=200
        Maximum number of epochs (``'gd'``, ``'sgd'``, ``'adam'``) or of
        iterations (``'lbfgs'``).

    shuffle : bool, default=True
        Whether to shuffle samples in each epoch (``'sgd'`` and ``'adam'``).
        On CUDA each epoch's order is a keyed bijection computed on the GPU, not
        NumPy's shuffle: shuffled CUDA fits are statistically equivalent to CPU
        fits but not identical (with ``shuffle=False`` or ``'gd'`` they agree).

    random_state : int, RandomState instance or None, default=None
        Determines the initial weights and the shuffling. Pass an int for
        reproducible results across multiple function calls.

    tol : float, default=1e-4
        Tolerance for the optimization: training stops when the loss or, with
        ``early_stopping``, the validation score does not improve by at least
        ``tol`` for ``n_iter_no_change`` consecutive epochs. For ``'lbfgs'`` it
        is the gradient tolerance ``gtol``.

    verbose : bool, default=False
        Whether to print the loss of each epoch. Lines appear as training goes,
        once per chunk of epochs (about every 0.1 s).

    progress_bar : bool, default=False
        Show a ``tqdm`` progress bar (epochs, current loss, ETA) during ``fit``.
        Requires the optional ``tqdm`` package.

    warm_start : bool, default=False
        When set to True, reuse the solution of the previous call to fit as
        initialization, otherwise, just erase the previous solution.
        {warm_start}

    momentum : float, default=0.9
        Momentum of the ``'sgd'`` updates, between 0 and 1.

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum (``'sgd'`` with ``momentum > 0``).

    early_stopping : bool, default=False
        Whether to use early stopping to terminate training when validation
        score is not improving. If set to True, it will automatically set aside
        ``validation_fraction`` of training data as validation ({split}) and
        terminate training when the validation {score} is not improving by at
        least ``tol`` for ``n_iter_no_change`` consecutive epochs; the weights
        with the best validation {score} are kept. Only effective for ``'gd'``,
        ``'sgd'`` and ``'adam'``.

    validation_fraction : float, default=0.1
        The proportion of training data to set aside as validation set for
        early stopping. Must be between 0 and 1. Only used if early_stopping is
        True.

    beta_1 : float, default=0.9
        Exponential decay rate of Adam's first moment estimates, in [0, 1).

    beta_2 : float, default=0.999
        Exponential decay rate of Adam's second moment estimates, in [0, 1).

    epsilon : float, default=1e-8
        Value for numerical stability in Adam.

    n_iter_no_change : int or np.inf, default=10
        Maximum number of epochs without an improvement of at least ``tol``.

    max_fun : int, default=15000
        Only used when ``solver='lbfgs'``. Maximum number of loss function
        calls.

    negative_slope : float, default=0.01
        Slope of ``'leaky_relu'`` for negative inputs (non-negative).

    init : {{'glorot', 'normal'}}, default='glorot'
        Initial weights. ``'glorot'`` draws {mlp}'s Glorot-uniform weights and
        intercepts. ``'normal'`` draws the shallow-network lecture's: with
        ``rs = np.random.RandomState(random_state)``, ``W1`` is
        ``rs.randn(n_hidden, n_features) * 0.01`` (transposed into
        ``coefs_[0]``'s layout), then ``W2`` is
        ``rs.randn(n_outputs, n_hidden) * 0.01``, and the intercepts are zero.

{extra_last}    device : {{'cpu', 'cuda', 'auto'}}, default='cpu'
        Where to train. ``'cuda'`` trains on an NVIDIA GPU (needs the ``cuda``
        extra and a CUDA runtime; raises otherwise) with data, weights and
        optimizer state resident on the device; ``'auto'`` uses CUDA when a GPU
        is usable, else the CPU. ``X`` (and ``y``) may then be GPU arrays (CuPy,
        PyTorch CUDA tensors, numba device arrays): ``X`` is used in place, ``y``
        is copied to the host. ``'lbfgs'`` runs on the CPU
        only. Fitted weights are NumPy arrays whatever the device.

    Attributes
    ----------
{target_attributes}    loss_ : float
        The loss of the last epoch (``'lbfgs'``: the final loss).

    best_loss_ : float or None
        The minimum loss reached during the fit. If `early_stopping=True`, this
        attribute is set to `None`. Refer to the `best_validation_score_` fitted
        attribute instead.

    loss_curve_ : list of shape (`n_iter_`,)
        The loss at the end of each epoch (empty for ``'lbfgs'``).

    validation_scores_ : list of shape (`n_iter_`,) or None
        The {score} on the held-out validation set at each epoch. Only
        available if `early_stopping=True`, otherwise the attribute is set to
        `None`.

    validation_loss_curve_ : list of shape (`n_iter_`,) or None
        The loss on the held-out validation set at each epoch's end: the
        mean (sample-weighted) loss of those samples plus the L2 term
        ``alpha * ||W||^2 / (2 * sum of their weights)``, the objective that
        `loss_curve_` records for the training batches. fastnn's addition (it
        was asked of MLP in scikit-learn #18507). Only available if
        `early_stopping=True`, otherwise the attribute is set to `None`.

    best_validation_score_ : float or None
        The best validation {score}, whose weights were kept. Only available
        if `early_stopping=True`, otherwise the attribute is set to `None`.

    t_ : int
        The number of training samples seen by the solver during fitting.

    coefs_ : list of shape (2,) of ndarray
        ``coefs_[0]`` of shape (n_features, n_hidden), ``coefs_[1]`` of shape
        (n_hidden, n_outputs).

    intercepts_ : list of shape (2,) of ndarray
        ``intercepts_[0]`` of shape (n_hidden,), ``intercepts_[1]`` of shape
        (n_outputs,).

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``. Defined only when `X` has
        feature names that are all strings.

    n_iter_ : int
        The number of epochs the solver has run.

    n_layers_ : int
        Number of layers (always 3: input, hidden, output).

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation: {out_activations}.

    device_ : str
        The device the last fit ran on: ``'cpu'`` or ``'cuda'``. A CUDA-fitted
        model predicts GPU arrays, and host arrays of at least 65536 rows, on the
        GPU when one is usable, and everything else on the CPU.

"""


def parameters_and_attributes(mlp, *, score, split, warm_start, out_activations,
                              extra_first="", extra_last="", target_attributes=""):
    """The Parameters and Attributes sections of an estimator's docstring.

    ``extra_first`` documents parameters listed after ``activation``,
    ``extra_last`` those before ``device``, ``target_attributes`` attributes
    listed first; each is numpydoc text indented by four spaces, ending with a
    blank line.
    """
    return _TEMPLATE.format(
        mlp=mlp, score=score, split=split, warm_start=warm_start,
        out_activations=out_activations, extra_first=extra_first,
        extra_last=extra_last, target_attributes=target_attributes,
    )

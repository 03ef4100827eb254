"""ONNX export through skl2onnx: ``skl2onnx.to_onnx(est, X[:1])``.

fastnn's converters (:mod:`fastnn._onnx`) are registered with skl2onnx as soon
as both packages are imported, in either order, so that nothing but
``import fastnn`` and ``import skl2onnx`` is needed:

- skl2onnx finds a converter by the model's class in a registry filled by
  ``skl2onnx.update_registered_converter`` (the models' own
  ``onnx_converter()`` methods skip that registry, and with it the classifier
  options such as ``zipmap``), and it has no plugin entry points; so the
  converters have to be registered, and that needs skl2onnx imported;
- ``import fastnn`` imports neither skl2onnx nor onnx (both are slow to import):
  when skl2onnx is already imported it registers at once, otherwise it puts a
  finder on ``sys.meta_path`` that does nothing for every other module and,
  once skl2onnx's own ``__init__`` has run, registers and removes itself.

:func:`register` does the same explicitly (and raises if it cannot).
"""

import sys
import warnings

__all__ = ["register"]


def register():
    """Register fastnn's skl2onnx converters (needs the ``onnx`` extra).

    Registers the shape calculators and converters of
    :class:`~fastnn.ShallowNNClassifier` (with the options of skl2onnx's
    ``MLPClassifier`` converter: ``zipmap``, ``nocl``, ``output_class_labels``)
    and :class:`~fastnn.ShallowNNRegressor`. Called automatically when
    skl2onnx is imported; calling it again is harmless.
    """
    from skl2onnx import update_registered_converter

    from . import _onnx
    from ._classifier import ShallowNNClassifier
    from ._regressor import ShallowNNRegressor

    update_registered_converter(
        ShallowNNClassifier, _onnx.CLASSIFIER_ALIAS, _onnx.classifier_shapes,
        _onnx.convert_classifier, options=_onnx.CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        ShallowNNRegressor, _onnx.REGRESSOR_ALIAS, _onnx.regressor_shapes,
        _onnx.convert_regressor,
    )


def _register_quietly():
    """:func:`register`, warning instead of failing the user's import."""
    try:
        register()
    except Exception as exc:  # an import hook must not break `import skl2onnx`
        warnings.warn(
            f"fastnn could not register its ONNX converters with skl2onnx "
            f"({exc!r}); fastnn.onnx.register() raises the full error.",
            RuntimeWarning,
            stacklevel=3,
        )


class _RegisterAfter:
    """skl2onnx's own loader, followed by :func:`register` once it has run."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        # The module keeps its real loader: nothing of the hook stays behind.
        module.__loader__ = module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _uninstall()
        _register_quietly()


class _RegisterOnImport:
    """A ``sys.meta_path`` finder that only acts on the import of skl2onnx."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "skl2onnx":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None  # not installed: the import fails as it would anyway
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _RegisterAfter(spec.loader)
        return spec


def _uninstall():
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not isinstance(f, _RegisterOnImport)]


def _install():
    """Register now if skl2onnx is imported, else when it is (``import fastnn``)."""
    if "skl2onnx" in sys.modules:
        _register_quietly()
    elif not any(isinstance(f, _RegisterOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())

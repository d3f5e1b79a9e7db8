"""scikit-learn base classes when scikit-learn is installed, else small
stand-ins with the same parameter protocol (scikit-learn stays optional)."""

from __future__ import annotations

import inspect

__all__ = ["BaseEstimator", "NotFittedError", "TransformerMixin", "HAVE_SKLEARN"]

try:  # pragma: no branch
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.exceptions import NotFittedError
    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised by the stand-in tests
    HAVE_SKLEARN = False


class _MiniNotFittedError(ValueError, AttributeError):
    """Raised by `transform` before `fit` (like sklearn's NotFittedError)."""


class _MiniBaseEstimator:
    """get_params / set_params / repr from the ``__init__`` signature,
    following scikit-learn's conventions (parameters stored unchanged)."""

    @classmethod
    def _get_param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(p.name for p in signature.parameters.values()
                      if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))

    def get_params(self, deep=True):
        """Parameters of this estimator, as a dict."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set parameters; unknown names raise ValueError."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                                 f"Valid parameters are: {valid!r}.")
            setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if defaults.get(k) is not v
                   and not (type(v) is type(defaults.get(k)) and v == defaults.get(k))]
        return f"{type(self).__name__}({', '.join(changed)})"


class _MiniTransformerMixin:
    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X, y).transform(X)``."""
        return self.fit(X, y, **fit_params).transform(X)


if not HAVE_SKLEARN:  # pragma: no cover
    BaseEstimator = _MiniBaseEstimator
    TransformerMixin = _MiniTransformerMixin
    NotFittedError = _MiniNotFittedError

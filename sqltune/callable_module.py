"""Modules you can call: ``sqltune.grade(...)`` runs ``sqltune.grade.grade(...)``.

The API's verbs (``introspect``, ``generate``, ``grade``, ``evaluate``, ``onboard``) share their
names with the modules that implement them. Rebinding the package attribute to the function would
break ``import sqltune.grade as g`` and every dotted lookup (``monkeypatch.setattr("sqltune.grade.x")``),
so instead each such module stays a module and becomes callable, forwarding to its namesake function
(looked up at call time, so patching the function patches the call).

>>> import types
>>> mod = types.ModuleType("demo")
>>> mod.demo = lambda x: x + 1
>>> make_callable(mod, "demo")(41)
42
>>> mod.__call__.__doc__.startswith("Call")
True
"""

from __future__ import annotations

import sys
import types
import typing as t


class CallableModule(types.ModuleType):
    """A module whose call forwards to the function named by its ``__call_name__``."""

    def __call__(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        """Call the module's namesake function (see its ``__doc__``)."""
        return getattr(self, self.__dict__["__call_name__"])(*args, **kwargs)


def make_callable(module: types.ModuleType | str, function: str) -> types.ModuleType:
    """Make ``module`` (an object or a name in ``sys.modules``) callable as ``module.<function>``."""
    mod = sys.modules[module] if isinstance(module, str) else module
    mod.__call_name__ = function  # type: ignore[attr-defined]
    mod.__class__ = CallableModule
    return mod

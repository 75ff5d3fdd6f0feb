"""Model registries: encoders and objectives, each built by name from the config.

Both are fvcore Registries that also accept an explicit name:
`@ENCODERS.register()` registers under the function's `__name__`, `@ENCODERS.register("vit")`
under "vit"; `ENCODERS.get(name)` returns the builder.
"""

from __future__ import annotations

from typing import Any, Callable

from fvcore.common.registry import Registry


class NamedRegistry(Registry):
    """fvcore Registry whose `register` also takes a name string."""

    def register(self, obj: Any = None) -> Any:
        if isinstance(obj, str):
            name = obj

            def deco(fn: Callable) -> Callable:
                self._do_register(name, fn)
                return fn

            return deco
        return super().register(obj)


ENCODERS = NamedRegistry("ENCODERS")
ENCODERS.__doc__ = "Encoder families ('vit', 'mvit'): name -> build_fn(cfg) -> nn.Module."

OBJECTIVES = NamedRegistry("OBJECTIVES")
OBJECTIVES.__doc__ = (
    "Objectives ('maskfeat', 'mae', 'classification', 'ava'): name -> build_fn(cfg) -> nn.Module "
    "whose forward returns a dict of losses in training."
)

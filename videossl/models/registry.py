"""Model registries: encoders and objectives, each built by name from the config.

Both are fvcore Registries that also accept an explicit name:
`@ENCODERS.register()` registers under the function's `__name__`, `@ENCODERS.register("vit")`
under "vit"; `ENCODERS.get(name)` returns the builder.
"""

from __future__ import annotations

from typing import Any, Callable

from fvcore.common.registry import Registry


class NamedRegistry(Registry):
    """fvcore Registry whose `register` also takes a name string and, with it, facts about the
    entry that others look up by name (`spec(name)`), e.g. the evaluator an objective's
    predictions go to: `@OBJECTIVES.register("ava", evaluator="AVAEvaluator")`."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._specs: dict[str, dict[str, Any]] = {}

    def register(self, obj: Any = None, **spec: Any) -> Any:
        if isinstance(obj, str):
            name = obj

            def deco(fn: Callable) -> Callable:
                self._do_register(name, fn)
                self._specs[name] = dict(spec)
                return fn

            return deco
        if spec:
            raise TypeError("register(**spec) needs the entry's name: register('name', ...).")
        return super().register(obj)

    def spec(self, name: str) -> dict[str, Any]:
        """The keyword facts registered with `name` (empty if none)."""
        self.get(name)  # KeyError naming the registry for an unknown name
        return dict(self._specs.get(name, {}))


ENCODERS = NamedRegistry("ENCODERS")
ENCODERS.__doc__ = "Encoder families ('vit', 'mvit'): name -> build_fn(cfg) -> nn.Module."

OBJECTIVES = NamedRegistry("OBJECTIVES")
OBJECTIVES.__doc__ = (
    "Objectives ('maskfeat', 'mae', 'classification', 'linear_probe', 'ava'): name -> "
    "build_fn(cfg) -> nn.Module whose forward returns a dict of losses in training; "
    "spec(name)['evaluator'] names the engine evaluator of its predictions (None: it has none)."
)

"""The package's ownership contracts (docs/architecture.md), checked on the source with `ast`."""

import ast
import re
from pathlib import Path

import videossl

ROOT = Path(videossl.__file__).parent
# Where MODEL.OBJECTIVE may be read: the config, the peer-config translation, the objective
# builders (the registry lookup, and the builders' own modules).
OBJECTIVE_READERS = ("config/", "peers/", "models/build.py", "models/ava_objective.py")
OBJECTIVE_READERS += ("models/linear_probe.py",)


def _modules(under: str = ""):
    for path in sorted((ROOT / under).rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), path


def _reads_objective(path: Path) -> list[int]:
    text = path.read_text()
    lines = [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r"MODEL\.OBJECTIVE", text)]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Attribute) and node.attr == "OBJECTIVE":
            lines.append(node.lineno)
        if isinstance(node, ast.Constant) and node.value == "OBJECTIVE":
            lines.append(node.lineno)  # cfg.MODEL["OBJECTIVE"], getattr(cfg.MODEL, "OBJECTIVE")
    return sorted(set(lines))


def test_no_module_outside_config_and_objective_builders_reads_the_objective_name():
    offenders = {
        rel: lines
        for rel, path in _modules()
        if not rel.startswith(OBJECTIVE_READERS) and (lines := _reads_objective(path))
    }
    assert offenders == {}


def _imports(rel: str, path: Path) -> set[str]:
    """Absolute names of the videossl modules `path` imports (relative imports resolved)."""
    package = ["videossl", *rel.split("/")[:-1]]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out.add(module)
            out |= {f"{module}.{a.name}" for a in node.names}  # from . import models
    return {m for m in out if m.startswith("videossl")}


def _crossing(src: str, dst: str) -> dict[str, list[str]]:
    found = {}
    for rel, path in _modules(src):
        bad = sorted(m for m in _imports(rel, path) if m.startswith(f"videossl.{dst}"))
        if bad:
            found[rel] = bad
    return found


def test_engine_does_not_import_models():
    assert _crossing("engine", "models") == {}


def test_models_do_not_import_engine():
    assert _crossing("models", "engine") == {}


def test_import_resolution_sees_relative_imports():
    """The check above is not vacuous: it resolves the relative imports models/ does make."""
    imports = _imports("models/build.py", ROOT / "models" / "build.py")
    assert "videossl.masking" in imports and "videossl.models.registry" in imports

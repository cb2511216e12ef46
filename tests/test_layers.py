"""The packages import one way only: each may use its own layer and the ones below it.

Every import is read from the source, including those inside functions (a function-level import
is still a dependency; it only hides a cycle). docs/architecture.md draws the same order."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A new module or package of cnnkit must be placed here (the test says so when it is not).
LAYERS: list[tuple[str, ...]] = [
    ("cnnkit", "cnnkit.paths", "cnnkit.device", "cnnkit.fileio", "cnnkit.formatting", "cnnkit.cancellation",
     "cnnkit.run_status", "cnnkit.threads", "cnnkit.classroom", "cnnkit.install"),
    ("cnnkit.data",),
    ("cnnkit.models",),
    ("cnnkit.store",),
    ("cnnkit.evaluate",),
    ("cnnkit.train",),
    # cnnkit.jobs, lowest module first: a backend never imports a queue, a queue never the package's entry.
    ("cnnkit.jobs.snapshot",),
    ("cnnkit.jobs.fair", "cnnkit.jobs.context"),
    ("cnnkit.jobs.backends",),
    ("cnnkit.jobs.queue",),
    ("cnnkit.jobs.manager",),
    ("cnnkit.jobs.shared",),
    ("cnnkit.jobs",),
    ("cnnkit.transfer",),
    ("cnnkit.labs",),
    ("cnnkit.explain", "cnnkit.inspect", "cnnkit.export"),
    ("cnnkit.lessons",),
    ("cnnkit.cli",),
    ("cnnkit.__main__",),
    ("ui",),
    ("pages",),
    ("cnnlab",),  # the `cnn-lab` command: serves the app (by path, never importing ui or pages) or runs cnnkit.cli
]


def layer_of(module: str) -> int:
    """Index of the longest LAYERS prefix that owns `module`."""
    best, best_len = None, -1
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best_len:
                best, best_len = index, len(name)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py "
                             "and to the diagram in docs/architecture.md")
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in the file, at any depth."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from cnnkit import store` imports the submodule cnnkit.store
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names
                      if (ROOT / Path(*target.split("."), alias.name)).with_suffix(".py").exists()
                      or (ROOT / Path(*target.split("."), alias.name)).is_dir()]
    return found


def ours(module: str) -> bool:
    return module.split(".")[0] in ("cnnkit", "ui", "pages", "cnnlab")


def source_files() -> list[Path]:
    return sorted([*ROOT.glob("cnnkit/**/*.py"), *ROOT.glob("ui/*.py"), *ROOT.glob("pages/*.py"),
                   *ROOT.glob("cnnlab/*.py")])


def upward_imports() -> list[str]:
    problems = []
    for path in source_files():
        here = module_name(path)
        own = layer_of(here)
        for line, target in imported_modules(path):
            if not ours(target):
                continue
            if layer_of(target) > own:
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {target} "
                                f"(layer {layer_of(target)}) from layer {own}")
    return problems


def test_no_package_imports_a_layer_above_it():
    assert upward_imports() == []


def test_the_engine_never_imports_streamlit_or_the_ui():
    offenders = [f"{path.relative_to(ROOT)}:{line} {target}" for path in ROOT.glob("cnnkit/**/*.py")
                 for line, target in imported_modules(path)
                 if target.split(".")[0] in ("streamlit", "ui", "pages")]
    assert offenders == []


def test_the_checker_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
    # A checker that missed imports inside functions would pass on the very cycles it exists to catch.
    fake = ROOT / "cnnkit" / "data" / "_layer_probe.py"
    fake.write_text("def f():\n    from cnnkit.train import loop\n    from ..store import load_run\n")
    try:
        problems = [p for p in upward_imports() if "_layer_probe" in p]
    finally:
        fake.unlink()
    assert len(problems) >= 3  # cnnkit.train, cnnkit.train.loop, cnnkit.store (all above data)
    assert any("cnnkit.store" in p for p in problems) and any("cnnkit.train" in p for p in problems)


PAGE_LINES_MAX = 250


def test_pages_stay_thin():
    # A page is widgets in, one cnnkit call, charts out; a longer one has logic that belongs in ui/ or cnnkit.
    long = {p.name: n for p in ROOT.glob("pages/*.py") if (n := len(p.read_text().splitlines())) > PAGE_LINES_MAX}
    assert long == {}, f"pages over {PAGE_LINES_MAX} lines: move their logic into ui/ or cnnkit"

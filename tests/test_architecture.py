"""The dependency rules of docs/ARCHITECTURE.md, read from the source with `ast`: no import cycle,
and every import of a package module points down the layers (or stays in its own layer)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "xapi_mcp"

# Lower number = lower layer. A module may import its own layer and the layers below it.
GROUND = {"xapi_mcp", "xapi_mcp.errors", "xapi_mcp.stores", "xapi_mcp.redis_state", "xapi_mcp.logs", "xapi_mcp.config"}
LAYERS = [
    ("ground", 0),
    ("spec", 1),
    ("tools", 2),
    ("auth", 3),
    ("calls", 4),
    ("server", 5),
    ("app", 6),
    ("clients", 6),
    ("cli", 7),
]
RANK = dict(LAYERS)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    if module in GROUND:
        return "ground"
    part = module.split(".")[1]
    return {"spec": "spec", "app": "app", "cli": "cli", "__main__": "cli"}.get(part, part)


def imports() -> dict[str, set[str]]:
    """Module -> the package modules it imports (at any depth: lazy imports count too)."""
    found: dict[str, set[str]] = {}
    modules = {module_name(p) for p in SRC.rglob("*.py")}
    for path in SRC.rglob("*.py"):
        name = module_name(path)
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name.startswith("xapi_mcp"))
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("xapi_mcp"):
                for alias in node.names:  # `from xapi_mcp.calls import media` imports a module
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in modules else node.module)
        found[name] = {t for t in targets if t != name and t != "xapi_mcp"}
    return found


def test_every_module_is_in_a_known_layer() -> None:
    for module in imports():
        assert layer(module) in RANK, f"{module}: add it to a layer in this test and docs/ARCHITECTURE.md"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, targets in imports().items():
        if layer(module) == "clients":
            continue
        for target in targets:
            if layer(target) not in RANK or RANK[layer(target)] > RANK[layer(module)]:
                wrong.append(f"{module} ({layer(module)}) imports {target} ({layer(target)})")
    assert wrong == []


def test_clients_import_only_the_ground_floor() -> None:
    for module, targets in imports().items():
        if layer(module) == "clients":
            assert {t for t in targets if layer(t) not in ("ground", "clients")} == set(), module


def test_no_import_cycle() -> None:
    graph = imports()
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        if node in done:
            return
        assert node not in visiting, "import cycle: " + " -> ".join([*visiting[visiting.index(node) :], node])
        visiting.append(node)
        for target in sorted(graph.get(node, ())):
            visit(target)
        visiting.pop()
        done.add(node)

    for module in sorted(graph):
        visit(module)


def test_the_executor_never_talks_to_the_consent_flow() -> None:
    assert not {t for t in imports()["xapi_mcp.calls.executor"] if t.startswith("xapi_mcp.auth.")} - {
        "xapi_mcp.auth.credentials"
    }


def test_no_module_over_400_lines() -> None:
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in SRC.rglob("*.py")}
    assert {m: n for m, n in sizes.items() if n > 420} == {}

"""The server side and the client side stay separate packages (DESIGN: the house)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "mcp_oauth2_proxy"
SERVER = PACKAGE / "server"
ALLOWED_FROM_SERVER = {"errors", "urls", "log", ""}  # "" is the package root (__version__)
# The demo command composes both sides; nothing else on the client side may import the server.
COMPOSERS = {PACKAGE / "commands" / "demo.py"}


def imported_modules(path: Path) -> set[str]:
    """Return absolute names of the mcp_oauth2_proxy modules ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.startswith("mcp_oauth2_proxy")}


def test_nothing_but_the_demo_command_imports_the_server_package() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if SERVER not in path.parents
        and path not in COMPOSERS
        and any(m.startswith("mcp_oauth2_proxy.server") for m in imported_modules(path))
    ]
    assert offenders == []


def test_the_server_package_uses_only_the_shared_foundation_modules() -> None:
    outside: set[str] = set()
    for path in SERVER.rglob("*.py"):
        for module in imported_modules(path):
            rest = module.removeprefix("mcp_oauth2_proxy").lstrip(".")
            if rest.startswith("server"):
                continue
            top = rest.split(".")[0]
            if top not in ALLOWED_FROM_SERVER and top != "__version__":
                outside.add(module)
    assert outside == set()

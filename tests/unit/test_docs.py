"""Documentation stays true: README's settings table and config.example.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel

from mcp_oauth2_proxy.config import Settings, load_settings
from mcp_oauth2_proxy.settings_table import SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def render_row(path: str) -> str:
    s = next(s for s in SETTINGS if s.path == path)
    flag = f" `{s.flag}`" if s.flag and s.flag != "URL" else (" positional `URL`" if s.flag else "")
    return f"| `{s.path}` | `{s.env}`{flag} | {s.default} | {s.meaning} |"


def readme_table() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- settings:start -->")[1].split("<!-- settings:end -->")[0]
    return [line for line in block.strip().splitlines() if line.startswith("| `")]


def model_paths(model: type[BaseModel], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for name, field in model.model_fields.items():
        alias = field.alias or name
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.update(model_paths(annotation, f"{prefix}{alias}."))
        else:
            out[f"{prefix}{alias}"] = field.default
    return out


def test_readme_settings_table_matches_the_settings_table() -> None:
    assert readme_table() == [render_row(s.path) for s in SETTINGS]


def test_settings_table_covers_every_model_field() -> None:
    assert set(model_paths(Settings)) == {s.path for s in SETTINGS}


def test_documented_defaults_are_the_real_defaults() -> None:
    defaults = model_paths(Settings)
    for s in SETTINGS:
        real = defaults[s.path]
        if isinstance(real, bool):
            assert s.default == str(real).lower(), s.path
        elif isinstance(real, int | str) and not re.search(r"[ <]", s.default):
            assert s.default == str(real), s.path


def test_example_config_is_valid_and_shows_every_file_field(tmp_path: Path) -> None:
    example = ROOT / "config.example.json"
    settings = load_settings(env={"MCP_PROXY_CONFIG": str(example), "API_KEY": "k"})
    assert settings.upstream.url.startswith("https://")
    data = json.loads(example.read_text(encoding="utf-8"))

    def flatten(tree: dict[str, object], prefix: str = "") -> set[str]:
        keys: set[str] = set()
        for key, value in tree.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and path not in ("upstream.headers", "oauth2.extraParams"):
                keys |= flatten(value, path + ".")
            else:
                keys.add(path)
        return keys

    assert flatten(data) == {s.path for s in SETTINGS}

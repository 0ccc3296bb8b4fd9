"""Settings: a JSON file, the environment and command-line flags, merged and validated once.

Precedence is flags > environment > file, field by field. Validation runs on the
merged result, and every failure names the field, where its value came from and
the rule it broke (SPEC §1). The values are frozen models declared like pydantic's
and validated by :mod:`.frozen_model`, which keeps pydantic's import (~0.1 s) out
of every launch.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from .errors import ConfigError, InsecureUrlError
from .frozen_model import (
    BeforeValidator,
    Field,
    FieldValidationError,
    Model,
    SecretStr,
    model_validator,
)
from .settings_table import BY_ENV, BY_PATH, SETTINGS
from .urls import check_secure_url, is_loopback_host

CONFIG_ENV = "MCP_PROXY_CONFIG"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def parse_bool(value: object) -> object:
    """Accept true/false/1/0/yes/no/on/off in any case; leave other input to fail."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError("not a boolean")


def parse_whole(value: object) -> object:
    """Accept whole numbers (ints, integral JSON numbers, digit strings) and nothing else."""
    if isinstance(value, bool):
        raise ValueError("not a whole number")  # noqa: TRY004 - pydantic expects ValueError
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ValueError("not a whole number")


Bool = Annotated[bool, BeforeValidator(parse_bool)]
Whole = Annotated[int, BeforeValidator(parse_whole)]
NonEmpty = Annotated[str, Field(min_length=1)]


class _Model(Model):
    """camelCase aliases (snake_case names accepted too), unknown keys refused, frozen."""


class UpstreamConfig(_Model):
    """``upstream.*``: where the remote MCP server is and how to talk to it."""

    url: NonEmpty
    timeout_ms: Annotated[Whole, Field(ge=1, le=86_400_000)] = 300_000
    open_server_stream: Bool = True
    protocol_version: NonEmpty | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    transport: Literal["auto", "streamable-http", "sse"] = "auto"
    # 128 MiB: 2.5 times the 50 MB message the proxy must carry, room for a base64-encoded
    # 64 MB file; a hostile or broken peer cannot make it buffer more than this.
    max_message_bytes: Annotated[Whole, Field(ge=1024, le=1 << 32)] = 128 * 1024 * 1024


class LogConfig(_Model):
    """``log.*``: stderr logging."""

    level: Literal["trace", "debug", "info", "warn", "error", "fatal", "silent"] = "info"
    format: Literal["console", "json"] | None = None


class DiscoveryConfig(_Model):
    """``discovery.*``: OAuth metadata discovery."""

    enabled: Bool = True


class OAuth2Config(_Model):
    """``oauth2.*``: how to obtain the bearer token."""

    grant: Literal["authorization_code", "client_credentials", "device_code", "none"] = (
        "authorization_code"
    )
    token_url: NonEmpty | None = None
    authorization_url: NonEmpty | None = None
    device_authorization_url: NonEmpty | None = None
    client_id: NonEmpty | None = None
    client_secret: SecretStr | None = None
    client_metadata_url: NonEmpty | None = None
    scope: NonEmpty | None = None
    resource: NonEmpty | None = None
    audience: NonEmpty | None = None
    auth_style: Literal["auto", "body", "header", "private_key_jwt", "none"] = "auto"
    client_assertion_key_file: NonEmpty | None = None
    client_assertion_key: SecretStr | None = None
    client_assertion_alg: NonEmpty | None = None
    refresh_skew_seconds: Annotated[Whole, Field(ge=0, le=3600)] = 30
    extra_params: dict[str, str] = Field(default_factory=dict)
    authorization_code: SecretStr | None = None
    code_verifier: SecretStr | None = None
    refresh_token: SecretStr | None = None
    redirect_uri: NonEmpty | None = None
    interactive: Bool = True
    open_browser: Bool = True
    callback_host: NonEmpty = "127.0.0.1"
    callback_port: Annotated[Whole, Field(ge=0, le=65535)] = 53682
    callback_timeout_seconds: Annotated[Whole, Field(ge=1, le=86_400)] = 300
    token_cache_dir: NonEmpty | None = None
    token_store: Literal["auto", "keyring", "file", "memory"] = "auto"  # noqa: S105 - a mode name


class Settings(_Model):
    """The validated, merged configuration of one proxy run."""

    upstream: UpstreamConfig
    log: LogConfig = Field(default_factory=LogConfig)
    discovery: DiscoveryConfig = Field(default_factory=DiscoveryConfig)
    allow_insecure_http: Bool = False
    max_line_bytes: Annotated[Whole, Field(ge=1024, le=1 << 32)] = 128 * 1024 * 1024
    oauth2: OAuth2Config = Field(default_factory=OAuth2Config)

    @model_validator(mode="after")
    def _secure_urls(self) -> Settings:
        allow = self.allow_insecure_http
        o = self.oauth2
        for path, url in (
            ("upstream.url", self.upstream.url),
            ("oauth2.tokenUrl", o.token_url),
            ("oauth2.authorizationUrl", o.authorization_url),
            ("oauth2.deviceAuthorizationUrl", o.device_authorization_url),
        ):
            if url is not None:
                _secure(path, url, allow=allow)
        if o.client_metadata_url is not None:
            _secure("oauth2.clientMetadataUrl", o.client_metadata_url, allow=False, https=True)
        if o.redirect_uri is not None:
            _secure("oauth2.redirectUri", o.redirect_uri, allow=False)
        if not is_loopback_host(o.callback_host) and not allow:
            raise _FieldRuleError(
                "oauth2.callbackHost", "a loopback address (127.0.0.0/8, ::1, localhost)"
            )
        return self


class _FieldRuleError(ValueError):
    """A cross-field rule failed for one field; carries the field for the error line."""

    def __init__(self, path: str, rule: str) -> None:
        super().__init__(rule)
        self.path = path
        self.rule = rule


def _secure(path: str, url: str, *, allow: bool, https: bool = False) -> None:
    if https and not url.lower().startswith("https://"):
        raise _FieldRuleError(path, "an https URL")
    try:
        check_secure_url(url, allow_insecure_http=allow)
    except InsecureUrlError as exc:
        raise _FieldRuleError(
            path, "https, or http only to a loopback host (ALLOW_INSECURE_HTTP=true permits others)"
        ) from exc


# ---------------------------------------------------------------- sources


Provenance = dict[str, str]


def _set_path(tree: dict[str, Any], path: str, value: object) -> None:
    *parents, leaf = path.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and path not in BY_PATH:
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


MAX_CONFIG_BYTES = 1024 * 1024


def _read_small_file(path: Path) -> bytes:
    """Read a regular file of at most :data:`MAX_CONFIG_BYTES`, never blocking on a FIFO.

    A device (``/dev/zero``), a FIFO or a huge file named by mistake must end
    in one clear error, not in a hang or an exhausted memory.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError("not a regular file")
        data = fh.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise OSError(f"larger than {MAX_CONFIG_BYTES} bytes")
    return data


def read_config_file(path_text: str) -> dict[str, Any]:
    """Load and flatten the JSON file; unknown keys are errors that name the key."""
    source = f"config file {path_text}"
    try:
        text = _read_small_file(Path(path_text).expanduser()).decode("utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{CONFIG_ENV}: {source} does not exist", field=CONFIG_ENV) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{CONFIG_ENV}: cannot read {source}: {exc}", field=CONFIG_ENV) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{CONFIG_ENV}: {source} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})",
            field=CONFIG_ENV,
        ) from exc
    except RecursionError:
        raise ConfigError(
            f"{CONFIG_ENV}: {source} is not valid JSON (nested too deeply)", field=CONFIG_ENV
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{CONFIG_ENV}: {source} must hold a JSON object", field=CONFIG_ENV)
    flat = _flatten(data)
    for key in flat:
        if key not in BY_PATH:
            raise ConfigError(_unknown_key(key, source), field=key, source=source)
    return flat


def _unknown_key(key: str, source: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(BY_PATH), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{key}: unknown key in {source}{hint}"


def read_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """Collect the settings present in ``env``; empty values count as unset."""
    flat: dict[str, Any] = {}
    for name, setting in BY_ENV.items():
        raw = env.get(name)
        if raw is None or raw == "":
            continue
        flat[setting.path] = (
            _decode_json(setting.path, name, raw) if setting.kind == "json" else raw
        )
    return flat


def _decode_json(path: str, name: str, raw: str) -> object:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: environment variable {name} is not valid JSON ({exc.msg} at column "
            f"{exc.colno}); expected {BY_PATH[path].rule}",
            field=path,
            source=f"environment variable {name}",
        ) from exc


def expand_headers(headers: object, env: Mapping[str, str], source: str) -> object:
    """Expand ``${VAR}`` in header values from ``env``; an unset variable is an error."""
    if not isinstance(headers, dict):
        return headers
    return {name: _expand(name, value, env, source) for name, value in headers.items()}


def _expand(name: object, value: object, env: Mapping[str, str], source: str) -> object:
    if not isinstance(value, str):
        return value
    return _VAR.sub(lambda m: _lookup(m.group(1), name, env, source), value)


def _lookup(var: str, header: object, env: Mapping[str, str], source: str) -> str:
    if var not in env:
        raise ConfigError(
            f"upstream.headers: header {header!r} from {source} refers to ${{{var}}}, "
            "which is not set in the environment",
            field="upstream.headers",
            source=source,
        )
    return env[var]


def _check_headers(headers: object, source: str) -> None:
    if not isinstance(headers, dict):
        return
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise ConfigError(
                f"upstream.headers ({source}): {name!r} is not a valid HTTP header name",
                field="upstream.headers",
                source=source,
            )
        if isinstance(value, str) and any(c in value for c in "\r\n\0"):
            raise ConfigError(
                f"upstream.headers ({source}): the value of {name!r} contains a line break",
                field="upstream.headers",
                source=source,
            )


# ---------------------------------------------------------------- loading


def load_settings(
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, tuple[object, str]] | None = None,
    config_path: str | None = None,
) -> Settings:
    """Merge file, environment and flags, then validate once.

    ``flags`` maps a setting path to ``(value, "--flag")``. ``config_path``
    (from ``--config``) wins over ``MCP_PROXY_CONFIG``.

    Raises:
        ConfigError: naming the field, its source and the rule it broke.
    """
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    provenance: Provenance = {}
    path_text = config_path or env.get(CONFIG_ENV) or None
    if path_text:
        _merge(merged, provenance, read_config_file(path_text), f"config file {path_text}")
    for path, value in read_environment(env).items():
        _merge(merged, provenance, {path: value}, f"environment variable {BY_PATH[path].env}")
    for path, (value, flag) in (flags or {}).items():
        _merge(merged, provenance, {path: value}, f"command line {flag}")
    if "upstream.headers" in merged:
        src = provenance["upstream.headers"]
        merged["upstream.headers"] = expand_headers(merged["upstream.headers"], env, src)
        _check_headers(merged["upstream.headers"], src)
    return _validate(merged, provenance)


def _merge(
    merged: dict[str, Any], provenance: Provenance, flat: dict[str, Any], source: str
) -> None:
    for path, value in flat.items():
        merged[path] = value
        provenance[path] = source


def _validate(flat: dict[str, Any], provenance: Provenance) -> Settings:
    if "upstream.url" not in flat:
        raise ConfigError(
            "upstream.url is required: pass the MCP server URL as the first argument, set "
            "UPSTREAM_URL, or put upstream.url in the file named by MCP_PROXY_CONFIG",
            field="upstream.url",
        )
    tree: dict[str, Any] = {}
    for path, value in flat.items():
        _set_path(tree, path, value)
    try:
        return Settings.model_validate(tree)
    except _FieldRuleError as exc:
        raise _field_error(exc.path, flat, provenance, exc.rule) from None
    except FieldValidationError as exc:
        path = _known_prefix(".".join(exc.loc))
        setting = BY_PATH.get(path)
        rule = setting.rule if setting else exc.message
        raise _field_error(path, flat, provenance, rule) from None


def _known_prefix(path: str) -> str:
    while path and path not in BY_PATH and "." in path:
        path = path.rsplit(".", 1)[0]
    return path


def _field_error(path: str, flat: dict[str, Any], provenance: Provenance, rule: str) -> ConfigError:
    setting = BY_PATH.get(path)
    source = provenance.get(path, "defaults")
    shown = "" if setting is None or setting.secret or path not in flat else f" {flat[path]!r}"
    return ConfigError(
        f"{path}: invalid value{shown} from {source}; expected {rule}",
        field=path,
        source=source,
    )


__all__ = [
    "CONFIG_ENV",
    "SETTINGS",
    "DiscoveryConfig",
    "LogConfig",
    "OAuth2Config",
    "Settings",
    "UpstreamConfig",
    "expand_headers",
    "load_settings",
    "parse_bool",
    "parse_whole",
    "read_config_file",
    "read_environment",
]

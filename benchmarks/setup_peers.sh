#!/usr/bin/env bash
# Install the peer bridges the benchmark compares against, pinned, into benchmarks/peers/.
# Idempotent: a peer already installed at the pinned version is left alone.
#   mcp-remote 0.15.1 (npm)  -> benchmarks/peers/node_modules  (exactly what package-lock.json pins)
#   mcp-proxy  0.13.0 (PyPI) -> benchmarks/peers/mcp-proxy-venv (its own venv, not the project's)
set -euo pipefail
cd "$(dirname "$0")/peers"

MCP_REMOTE_VERSION=0.15.1
MCP_PROXY_VERSION=0.13.0

installed_remote=$(node -p "require('./node_modules/mcp-remote/package.json').version" 2>/dev/null || true)
if [ "$installed_remote" = "$MCP_REMOTE_VERSION" ]; then
  echo "mcp-remote $MCP_REMOTE_VERSION already installed"
else
  npm ci --no-audit --no-fund --loglevel=error
  echo "mcp-remote $(node -p "require('./node_modules/mcp-remote/package.json').version") installed"
fi

venv=mcp-proxy-venv
if [ -x "$venv/bin/python" ] &&
  "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('mcp-proxy') != '$MCP_PROXY_VERSION')" 2>/dev/null; then
  echo "mcp-proxy $MCP_PROXY_VERSION already installed"
else
  rm -rf "$venv"
  if command -v uv >/dev/null 2>&1; then
    uv venv --quiet "$venv"
    uv pip install --quiet --python "$venv/bin/python" "mcp-proxy==$MCP_PROXY_VERSION"
  else
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "mcp-proxy==$MCP_PROXY_VERSION"
  fi
  echo "mcp-proxy $MCP_PROXY_VERSION installed"
fi

# The proxy's own dependencies as wheels, for the loopback index that proxy-uvx installs from
# (benchmarks/wheel_index.py): exactly the versions uv.lock pins, for this machine's Python.
wheelhouse=wheelhouse
if ! command -v uv >/dev/null 2>&1; then
  echo "uv not found: no dependency wheels, proxy-uvx will be skipped"
  exit 0
fi
requirements=$(mktemp)
(cd ../.. && uv export --frozen --no-dev --no-hashes --no-emit-project --format requirements-txt) >"$requirements"
python3 -m pip download --isolated --quiet --disable-pip-version-check --no-deps \
  --only-binary=:all: -r "$requirements" -d "$wheelhouse"
rm -f "$requirements"
echo "$(ls "$wheelhouse"/*.whl | wc -l) dependency wheels in benchmarks/peers/$wheelhouse"

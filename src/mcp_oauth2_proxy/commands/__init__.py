"""Commands besides the bridge: thin compositions of what the package already has."""

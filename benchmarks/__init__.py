"""Side-by-side benchmarks of stdio MCP bridges (not part of the package; see README.md)."""

"""Bundled scenarios; `tidewise sim` runs nasa-week.yaml by default."""

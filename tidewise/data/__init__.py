"""Data shipped with the package: see data/README.md for sources and licences."""

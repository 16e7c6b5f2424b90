"""The documentation site: Sphinx sources, the generated references, the pictures."""

"""The pictures of the site, drawn from real runs: ``python -m docs.pictures [NAME ...]``."""

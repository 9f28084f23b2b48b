"""The built front-end bundles: one version string for every page that loads them."""

# Bumped by `make studio-assets` through studio/frontend/package.json's version; the file names
# carry it so a browser never mixes an old cached bundle with a new page.
STUDIO_ASSETS_VERSION = "1.0.0"


def asset(name: str) -> str:
    """`graph` -> `studio/graph-1.0.0.js`: a path for the {% static %} tag."""
    stem, _, extension = name.partition(".")
    return f"studio/{stem}-{STUDIO_ASSETS_VERSION}.{extension or 'js'}"

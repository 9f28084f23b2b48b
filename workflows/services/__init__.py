"""Writes. Keyword-only functions named `<entity>_<action>`; views call exactly one.

The modules form one-way layers (checked by `make lint`); docs/house.md maps them, with the
tables each writes and the locks each takes."""

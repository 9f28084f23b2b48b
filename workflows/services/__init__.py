"""Writes. Keyword-only functions named `<entity>_<action>`; views call exactly one."""

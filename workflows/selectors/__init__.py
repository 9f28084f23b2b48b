"""Reads, always scoped to a tenant."""

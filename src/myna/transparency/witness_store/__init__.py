"""Migrations of the witness's own database (tables in :mod:`myna.transparency.storage`)."""

"""Cryptographic building blocks (format-preserving encryption)."""

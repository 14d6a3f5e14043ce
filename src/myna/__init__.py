"""Myna: an open implementation of Japan's Social Security and Tax Number system."""

__version__ = "0.1.0"

"""The municipality staff web app (Japanese UI) and the JSON API under ``/api/v1``."""

from myna.web.app import create_app

__all__ = ["create_app"]

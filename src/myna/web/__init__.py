"""The municipality staff web app (Japanese UI) and the JSON API under ``/api/v1``."""

from myna.web.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]

"""Entry point for ``flask`` (found from the repository root) and for gunicorn: ``wsgi:create_app()``."""

from web import create_app

__all__ = ["create_app"]

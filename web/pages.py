"""Read-only pages (until the web issue lands): the list of cases."""

from flask import Blueprint

bp = Blueprint("pages", __name__)

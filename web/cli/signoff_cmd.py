"""`flask signoff` commands."""

import click

group = click.Group("signoff", help="signoff commands")

"""`flask scores` commands."""

import click

group = click.Group("scores", help="scores commands")

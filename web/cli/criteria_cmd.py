"""`flask criteria` commands."""

import click

group = click.Group("criteria", help="criteria commands")

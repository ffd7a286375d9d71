"""`flask cases` commands."""

import click

group = click.Group("cases", help="cases commands")

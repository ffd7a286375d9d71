"""`flask demo` commands."""

import click

group = click.Group("demo", help="demo commands")

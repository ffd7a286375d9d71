"""`flask deadlines` commands."""

import click

group = click.Group("deadlines", help="deadlines commands")

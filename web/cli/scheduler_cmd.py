"""`flask scheduler` commands."""

import click

group = click.Group("scheduler", help="scheduler commands")

"""`flask campaign` commands."""

import click

group = click.Group("campaign", help="campaign commands")

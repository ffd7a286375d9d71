"""`flask audit` commands."""

import click

group = click.Group("audit", help="audit commands")

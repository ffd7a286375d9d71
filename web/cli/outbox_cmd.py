"""`flask outbox` commands."""

import click

group = click.Group("outbox", help="outbox commands")

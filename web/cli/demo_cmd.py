"""`flask demo` commands: load the Núi Thành 2023 demo and print its log-ins."""

import click

from workflow import demo, txn
from workflow.clock import utcnow

from .common import domain_errors

group = click.Group("demo", help="The Núi Thành 2023 demo campaign.")


@group.command("load")
@domain_errors
def load_command():
    """Load the criteria set, the plan and realistic progress (idempotent) and print the log-ins."""
    report = demo.load_demo(now=utcnow())
    if report.already_loaded:
        click.echo(f"The demo ({report.campaign_key}) is already loaded; nothing changed.")
    else:
        txn.commit()
        stages = ", ".join(f"{n} {stage}" for stage, n in sorted(report.stages.items()))
        click.echo(f"Demo loaded: campaign {report.campaign_key}, {sum(report.stages.values())} cases "
                   f"({stages}); {report.events} audit events.")
    click.echo("")
    click.echo(f"Demo log-ins (password for all: {demo.DEMO_PASSWORD}):")
    width = max((len(row[0]) for row in report.logins), default=10)
    for email, password, role, commune in report.logins:
        click.echo(f"  {email:<{width}}  {password}  {role}{'  ' + commune if commune else ''}")
    click.echo("Tip: the campaign ran Oct-Dec 2023; add ?as_of=2023-12-11 to a page to see it as it stood then.")

"""Operator commands (Flask CLI). Each group lives in its own module."""

from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    from . import (
        audit_cmd,
        campaign_cmd,
        cases_cmd,
        criteria_cmd,
        deadlines_cmd,
        demo_cmd,
        outbox_cmd,
        scheduler_cmd,
        scores_cmd,
        signoff_cmd,
    )

    for module in (audit_cmd, campaign_cmd, cases_cmd, criteria_cmd, deadlines_cmd, demo_cmd, outbox_cmd,
                   scheduler_cmd, scores_cmd, signoff_cmd):
        app.cli.add_command(module.group)

    from . import survey_cmd

    app.cli.add_command(survey_cmd.group)

    from . import results_cmd

    for command in (results_cmd.results_cmd, results_cmd.publish_cmd, results_cmd.communes):
        app.cli.add_command(command)

    from . import remediation_cmd

    app.cli.add_command(remediation_cmd.group)

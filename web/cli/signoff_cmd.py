"""`flask signoff` commands: pending council sign-offs, and a member's approval or rejection."""

from __future__ import annotations

import json

import click
from sqlalchemy import select

from models import Case, SignOff, db
from workflow import cases, signoff, txn
from workflow.clock import utcnow

from .common import actor_by_email, campaign_by_key, domain_errors

group = click.Group("signoff", help="Council sign-off of stage transitions.")


@group.command("list")
@click.option("--campaign", "campaign_key", help="Only this campaign.")
@click.option("--actor", "actor_email", help="Only those awaiting this council member's signature.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@domain_errors
def list_cmd(campaign_key, actor_email, as_json):
    """Pending sign-offs, with quorum progress and who has signed."""
    campaign = campaign_by_key(campaign_key) if campaign_key else None
    if actor_email:
        pending = signoff.pending_for_member(actor_by_email(actor_email))
    else:
        pending = db.session.scalars(select(SignOff).where(SignOff.status == "pending")
                                     .order_by(SignOff.requested_at, SignOff.id)).all()
    shown = 0
    for so in pending:
        case = db.session.get(Case, so.case_id)
        if campaign is not None and case.campaign_id != campaign.id:
            continue
        shown += 1
        progress = signoff.progress(so)
        row = {"id": so.id, "campaign": case.campaign.key, "commune_code": case.commune.code,
               "commune_name": case.commune.name, "transition": so.transition,
               "requested_at": so.requested_at.isoformat(), "approvals": progress.approvals,
               "needed": progress.needed, "chair_required": progress.chair_required,
               "chair_approved": progress.chair_approved,
               "signed": [{"by": s.user.email, "decision": s.decision} for s in so.signatures]}
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        signed = ", ".join(f"{s['by']} {s['decision']}" for s in row["signed"]) or "no signatures yet"
        click.echo(f"{row['campaign']}  {row['commune_code']} {row['commune_name']}  '{so.transition}'  "
                   f"{progress.summary()}  [{signed}]")
    if not as_json:
        who = f" awaiting {actor_email}" if actor_email else ""
        click.echo(f"{shown} pending sign-off(s){who}")


def _sign(decision: str, campaign_key: str, commune_code: str, actor_email: str, comment: str | None):
    campaign = campaign_by_key(campaign_key)
    case = cases.get_case(campaign.key, commune_code)
    member = actor_by_email(actor_email)
    stage_before = case.stage
    so = signoff.sign(case, member, decision, now=utcnow(), comment=comment)
    txn.commit()
    progress = signoff.progress(so)
    label = f"{case.commune.code} {case.commune.name}"
    click.echo(f"{label}: {member.email} {'approved' if decision == 'approve' else 'rejected'} "
               f"'{so.transition}'; {progress.summary()}")
    if so.status == "approved":
        click.echo(f"quorum reached: '{so.transition}' fired, {stage_before} -> {case.stage}")
    elif so.status == "rejected":
        click.echo(f"sign-off rejected and closed; the case stays in {case.stage}")
    else:
        click.echo(f"sign-off still pending; the case stays in {case.stage}")


def _sign_command(decision: str):
    @click.option("--campaign", "campaign_key", required=True)
    @click.option("--commune", "commune_code", required=True)
    @click.option("--actor", "actor_email", required=True, help="E-mail of the council member signing.")
    @click.option("--comment", help="Comment (required when rejecting).")
    @domain_errors
    def command(campaign_key, commune_code, actor_email, comment):
        _sign(decision, campaign_key, commune_code, actor_email, comment)

    command.__doc__ = ("Approve the pending sign-off of a case as a council member." if decision == "approve"
                       else "Reject the pending sign-off of a case, with a comment; it closes.")
    return group.command(decision)(command)


approve_cmd = _sign_command("approve")
reject_cmd = _sign_command("reject")

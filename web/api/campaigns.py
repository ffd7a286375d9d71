"""Campaigns the caller may see (the same rule as the pages: workflow.queries.campaigns_visible_to)."""

from __future__ import annotations

from flask_smorest import Blueprint, abort

from workflow import queries

from .auth import caller
from .common import paginate
from .schemas import CampaignPageSchema, CampaignSchema, PageArgsSchema

blp = Blueprint("api_campaigns", __name__, url_prefix="/api/v1/campaigns",
                description="Assessment campaigns (one per year and authority)")


@blp.route("")
@blp.arguments(PageArgsSchema, location="query", as_kwargs=False)
@blp.response(200, CampaignPageSchema)
def list_campaigns(args):
    """Campaigns in which the caller may see at least one case, newest year first, then by key."""
    return paginate(queries.campaigns_visible_to(caller()), args)


@blp.route("/<key>")
@blp.response(200, CampaignSchema)
def get_campaign(key: str):
    """One campaign (404 when it does not exist or the caller sees none of its cases)."""
    found = next((c for c in queries.campaigns_visible_to(caller()) if c.key == key), None)
    if found is None:
        abort(404, message="No such campaign.")
    return found

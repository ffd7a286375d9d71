"""Communes the caller may see (workflow.communes: the pages' scope rules), with the caller's cases of each."""

from __future__ import annotations

from flask_smorest import Blueprint, abort

from workflow import communes

from .auth import caller
from .common import problem_doc, visible_campaign_or_404
from .schemas import CommuneListArgsSchema, CommunePageSchema, CommuneSchema

blp = Blueprint("api_communes", __name__, url_prefix="/api/v1/communes",
                description="Communes (UBND xã / thị trấn): one case per campaign each")


def _problem(status: int, description: str):
    return problem_doc(blp, status, description)


def _item(commune, cases) -> dict:
    return {"code": commune.code, "name": commune.name, "authority": commune.authority.name,
            "email": commune.email, "phone": commune.phone, "address": commune.address,
            "cases": [{"id": c.id, "campaign": c.campaign.key, "stage": c.stage} for c in cases]}


@blp.route("")
@blp.arguments(CommuneListArgsSchema, location="query", as_kwargs=False)
@blp.response(200, CommunePageSchema)
@_problem(404, "No such campaign, or none the caller may see")
def list_communes(args):
    """The communes the caller may see, by code: all for campaign-wide readers, a council's campaigns' for
    its members, only their own for a commune's officer and chair."""
    campaign = visible_campaign_or_404(args["campaign"]) if args.get("campaign") else None
    found = communes.communes_visible_to(caller(), campaign=campaign, code=args.get("code"),
                                         search=args.get("q") or "", page=args["page"], per_page=args["per_page"])
    return {"items": [_item(c, found.cases[c.id]) for c in found.items], "page": found.page,
            "per_page": found.per_page, "total": found.total}


@blp.route("/<code>")
@blp.response(200, CommuneSchema)
@_problem(404, "No such commune, or not one the caller may see")
def get_commune(code: str):
    """One commune with the caller's cases of it (404 for "missing" and "not yours" alike)."""
    found = communes.visible_commune(caller(), code)
    if found is None:
        abort(404, message="No such commune.")
    return _item(*found)

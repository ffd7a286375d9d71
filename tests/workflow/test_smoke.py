from states import Stage
from workflow import audit


def test_a_case_walks_from_planning_to_publication(make, db):
    campaign = make.campaign()
    case = make.case_of(campaign, "10001")
    make.advance(case, Stage.publication)
    assert case.stage == "publication"
    assert audit.verify().ok

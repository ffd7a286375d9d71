"""One case per commune with the six stages; each arrow is a django-fsm transition logged by django-fsm-log.

Each transition names the permission a view checks with ``has_transition_perm`` (the "as a view" run);
``can_proceed`` alone, as the plain run calls it, ignores it."""

from django.db import models
from django_fsm import FSMField, transition
from django_fsm_log.decorators import fsm_log_by

FIRE = "fsmapp.fire_case"


class Case(models.Model):
    commune = models.CharField(max_length=16)
    stage = FSMField(default="planning")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [("fire_case", "Fire a stage transition")]

    @fsm_log_by
    @transition(field=stage, source="planning", target="self_assessment", permission=FIRE)
    def open(self, by=None):
        pass

    @fsm_log_by
    @transition(field=stage, source="self_assessment", target="appraisal", permission=FIRE)
    def submit(self, by=None):
        pass

    @fsm_log_by
    @transition(field=stage, source="appraisal", target="survey", permission=FIRE)
    def complete_appraisal(self, by=None):
        pass

    @fsm_log_by
    @transition(field=stage, source="survey", target="council_meeting", permission=FIRE)
    def record_survey(self, by=None):
        pass

    @fsm_log_by
    @transition(field=stage, source="council_meeting", target="publication", permission=FIRE)
    def approve(self, by=None):
        pass

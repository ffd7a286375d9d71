"""One case per commune with the six stages; each arrow is a django-fsm transition logged by django-fsm-log."""

from django.db import models
from django_fsm import FSMField, transition
from django_fsm_log.decorators import fsm_log_by


class Case(models.Model):
    commune = models.CharField(max_length=16)
    stage = FSMField(default="planning")
    updated_at = models.DateTimeField(auto_now=True)

    @fsm_log_by
    @transition(field=stage, source="planning", target="self_assessment")
    def open(self, by=None):
        pass

    @fsm_log_by
    @transition(field=stage, source="self_assessment", target="appraisal")
    def submit(self, by=None):
        pass

    @fsm_log_by
    @transition(field=stage, source="appraisal", target="survey")
    def complete_appraisal(self, by=None):
        pass

    @fsm_log_by
    @transition(field=stage, source="survey", target="council_meeting")
    def record_survey(self, by=None):
        pass

    @fsm_log_by
    @transition(field=stage, source="council_meeting", target="publication")
    def approve(self, by=None):
        pass

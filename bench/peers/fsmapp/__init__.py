"""A Django app with the usual "state field + transition log": django-fsm-2 and django-fsm-log."""

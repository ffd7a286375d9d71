from django.apps import AppConfig


class FsmAppConfig(AppConfig):
    name = "peers.fsmapp"
    label = "fsmapp"
    default_auto_field = "django.db.models.BigAutoField"

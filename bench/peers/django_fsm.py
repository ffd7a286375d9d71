"""django-fsm-2 + django-fsm-log on Django: each transition one ``transaction.atomic`` that loads the case,
checks ``can_proceed``, fires, saves, and lets django-fsm-log write its StateLog row.

``as_view=True`` also does what a Django view does before it may fire, as ours does on every arrow: load
the signed-in user (AuthenticationMiddleware's ``User.objects.get``; the session lookup is left out) and
check ``has_transition_perm`` (the ModelBackend reads the user's and the user's groups' permissions).
Officer and secretariat are two users, each holding the permission through a group, as ours holds roles."""

from __future__ import annotations

import time

# which configured database the router sends every query to (one process measures SQLite and PostgreSQL)
CURRENT = {"alias": "default"}


class Router:
    def db_for_read(self, model, **hints):
        return CURRENT["alias"]

    def db_for_write(self, model, **hints):
        return CURRENT["alias"]

    def allow_relation(self, *args, **hints):
        return True

    def allow_migrate(self, db, app_label, **hints):
        return True


def configure(databases: dict[str, str]) -> None:
    """Set Django up once with ``{alias: url}`` (sqlite file path or postgresql URL) and migrate each."""
    from urllib.parse import urlsplit

    import django
    from django.conf import settings

    dbs = {}
    for alias, url in databases.items():
        if url.startswith("sqlite:///"):
            # Django 5.1+: the same journal mode and synchronous setting as every other system measured
            from common import SQLITE_JOURNAL, SQLITE_SYNCHRONOUS

            dbs[alias] = {"ENGINE": "django.db.backends.sqlite3", "NAME": url.removeprefix("sqlite:///"),
                          "OPTIONS": {"init_command": f"PRAGMA journal_mode={SQLITE_JOURNAL};"
                                                      f"PRAGMA synchronous={SQLITE_SYNCHRONOUS};"}}
        else:
            parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
            dbs[alias] = {"ENGINE": "django.db.backends.postgresql", "NAME": parts.path.lstrip("/"),
                          "USER": parts.username or "", "PASSWORD": parts.password or "",
                          "HOST": parts.hostname or "", "PORT": str(parts.port or "")}
    if "default" not in dbs:
        dbs["default"] = next(iter(dbs.values()))
    settings.configure(
        DATABASES=dbs, DATABASE_ROUTERS=[f"{__name__}.Router"], USE_TZ=True, TIME_ZONE="UTC",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_fsm_log", "peers.fsmapp"],
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField", SECRET_KEY="bench-only",
    )
    django.setup()
    from django.core.management import call_command

    for alias in databases:
        CURRENT["alias"] = alias
        call_command("migrate", database=alias, run_syncdb=True, verbosity=0)


class DjangoFsm:
    """One database alias of the Django peer."""

    def __init__(self, alias: str, *, as_view: bool = False):
        self.alias = alias
        self.as_view = as_view

    def build(self, n: int) -> list[int]:
        from django.contrib.auth.models import User
        from django.db import connections

        from peers.fsmapp.models import Case

        CURRENT["alias"] = self.alias
        self.user, _ = User.objects.get_or_create(username="secretariat")
        self.user_ids = {"secretariat": self.user.id}
        if self.as_view:
            from django.contrib.auth.models import Group, Permission

            fire = Permission.objects.get(codename="fire_case", content_type__app_label="fsmapp")
            for who in ("secretariat", "officer"):
                group, _ = Group.objects.get_or_create(name=who)
                group.permissions.add(fire)
                user, _ = User.objects.get_or_create(username=who)
                user.groups.add(group)
                self.user_ids[who] = user.id
        Case.objects.all().delete()
        Case.objects.bulk_create([Case(commune=f"{30000 + i:05d}") for i in range(n)], batch_size=2000)
        connections[self.alias].close()
        return list(Case.objects.order_by("id").values_list("id", flat=True))

    def settings(self) -> dict:
        from django.db import connections

        conn = connections[self.alias]
        if conn.vendor != "sqlite":
            return {"vendor": conn.vendor}
        with conn.cursor() as cur:
            journal = cur.execute("PRAGMA journal_mode").fetchone()[0]
            sync = cur.execute("PRAGMA synchronous").fetchone()[0]
        return {"journal_mode": journal, "synchronous": {1: "NORMAL", 2: "FULL"}.get(sync, sync)}

    def advance(self, case_ids: list[int], forward) -> float:
        """Seconds to take every case through ``forward`` (one atomic transaction a transition)."""
        from django.contrib.auth.models import User
        from django.db import transaction
        from django_fsm import can_proceed, has_transition_perm

        from peers.fsmapp.models import Case

        CURRENT["alias"] = self.alias
        started = time.perf_counter()
        for case_id in case_ids:
            for name, who in forward:
                with transaction.atomic(using=self.alias):
                    user = User.objects.get(pk=self.user_ids[who]) if self.as_view else self.user
                    case = Case.objects.get(pk=case_id)
                    fire = getattr(case, name)
                    if not can_proceed(fire):
                        raise RuntimeError(f"{name} not allowed from {case.stage}")
                    if self.as_view and not has_transition_perm(fire, user):
                        raise RuntimeError(f"{who} may not {name}")
                    fire(by=user)
                    case.save()
        return time.perf_counter() - started

    def check(self, case_ids: list[int]) -> dict:
        from django_fsm_log.models import StateLog

        from peers.fsmapp.models import Case

        CURRENT["alias"] = self.alias
        return {"published": Case.objects.filter(pk__in=case_ids, stage="publication").count(),
                "log_rows": StateLog.objects.filter(object_id__in=case_ids).count()}

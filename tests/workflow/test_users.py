"""The administrator's directory: accounts, roles, communes, each change audited without password material."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from models import AuditEvent, Authority, Commune, User
from states import Role
from workflow import users
from workflow.errors import InvalidInput


def _events(db, action: str, subject: str | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
    if subject is not None:
        stmt = stmt.where(AuditEvent.subject == subject)
    return list(db.session.scalars(stmt))


def _refusal(call) -> dict[str, list[str]]:
    with pytest.raises(InvalidInput) as caught:
        call()
    return caught.value.errors


@pytest.fixture
def world(make, db):
    make.campaign()
    db.session.commit()
    return make


def _commune(db, code: str) -> Commune:
    return db.session.scalar(select(Commune).where(Commune.code == code))


def test_the_signed_in_user_is_read_with_its_roles_in_one_statement(app, db, world):
    from sqlalchemy import event

    user_id = world.secretariat.id
    db.session.expunge_all()
    seen = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        user = users.signed_in(user_id)
        assert user.roles == frozenset({Role.secretariat})
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(seen) == 1 and "user_roles" in seen[0]
    assert users.signed_in(10**9) is None
    # a forged or stale session id beyond the column's range is nobody, not a database error
    assert users.signed_in(2**40) is None and users.signed_in(0) is None and users.signed_in(-1) is None


def test_an_officer_is_created_with_a_commune_and_audited(db, world, now):
    commune = _commune(db, "10001")
    user = users.create_user(actor=world.admin, now=now, email=" New.Officer@Example.VN ", name="Cán bộ mới",
                             locale="en", roles=["commune_officer"], commune_id=str(commune.id),
                             password="mot-mat-khau-dai")
    db.session.commit()
    assert user.email == "new.officer@example.vn"
    assert user.roles == {Role.commune_officer} and user.commune_id == commune.id and user.locale == "en"
    assert user.check_password("mot-mat-khau-dai")
    [event] = _events(db, "user.created", "new.officer@example.vn")
    assert event.case_id is None and event.actor == world.admin.email
    assert event.after["roles"] == ["commune_officer"] and event.after["commune"] == "10001"
    assert event.after["password_set"] is True
    assert user.password_hash not in json.dumps(event.after)


def test_a_commune_role_needs_a_commune_and_other_roles_need_none(db, world, now):
    errors = _refusal(lambda: users.create_user(actor=world.admin, now=now, email="chair@x.vn", name="Chủ tịch",
                                                roles=["commune_chair"], commune_id=""))
    assert errors == {"commune_id": [users.COMMUNE_NEEDED]}
    # an auditor needs no commune ...
    auditor = users.create_user(actor=world.admin, now=now, email="auditor2@x.vn", name="Thanh tra",
                                roles=["auditor"])
    assert auditor.commune_id is None
    # ... and is not tied to one
    commune = _commune(db, "10002")
    errors = _refusal(lambda: users.create_user(actor=world.admin, now=now, email="aud3@x.vn", name="T",
                                                roles=["auditor"], commune_id=commune.id))
    assert errors == {"commune_id": [users.COMMUNE_NOT_ALLOWED]}


def test_every_field_problem_is_reported_together_and_nothing_is_written(db, world, now):
    before = db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    errors = _refusal(lambda: users.create_user(
        actor=world.admin, now=now, email=world.secretariat.email.upper(), name=" ", locale="fr",
        roles=["wizard"], commune_id="999999", password="short"))
    assert errors["email"] == [users.EMAIL_TAKEN]
    assert errors["name"] == [users.REQUIRED]
    assert errors["locale"] == [users.BAD_LOCALE]
    assert errors["roles"] == [users.UNKNOWN_ROLE]
    assert errors["commune_id"] == [users.UNKNOWN_COMMUNE]
    assert errors["password"] == [users.PASSWORD_SHORT]
    db.session.rollback()
    assert db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) == before
    assert _refusal(lambda: users.create_user(actor=world.admin, now=now, email="not-an-address", name="X",
                                              roles=["auditor"]))["email"] == [users.EMAIL_INVALID]
    assert _refusal(lambda: users.create_user(actor=world.admin, now=now, email="x@y.vn", name="X",
                                              roles=[]))["roles"] == [users.NO_ROLE]


def test_a_roles_edit_is_audited_with_before_and_after(db, world, now):
    user = world.auditor
    commune = _commune(db, "10001")
    assert users.update_user(user, actor=world.admin, now=now, name=user.name, locale="vi",
                             roles=["commune_chair", "auditor"], commune_id=commune.id)
    db.session.commit()
    assert user.roles == {Role.commune_chair, Role.auditor} and user.commune.code == "10001"
    [event] = _events(db, "user.updated", user.email)
    assert event.before == {"commune": None, "roles": ["auditor"]}
    assert event.after == {"commune": "10001", "roles": ["auditor", "commune_chair"]}
    # the same values again: no change, no event
    assert not users.update_user(user, actor=world.admin, now=now, name=user.name, locale="vi",
                                 roles=["auditor", "commune_chair"], commune_id=commune.id)
    assert len(_events(db, "user.updated", user.email)) == 1
    # dropping the commune role must drop the commune too
    errors = _refusal(lambda: users.update_user(user, actor=world.admin, now=now, name=user.name, locale="vi",
                                                roles=["auditor"], commune_id=commune.id))
    assert errors == {"commune_id": [users.COMMUNE_NOT_ALLOWED]}


def test_a_new_password_works_and_its_audit_holds_no_password_material(db, world, now):
    user = world.officers["10001"]
    errors = _refusal(lambda: users.set_password(user, "123456789", actor=world.admin, now=now))
    assert errors == {"password": [users.PASSWORD_SHORT]}
    users.set_password(user, "đủ-mười-ký-tự", actor=world.admin, now=now)
    db.session.commit()
    assert user.check_password("đủ-mười-ký-tự") and user.password_hash.count("$") >= 2
    [event] = _events(db, "user.password_set", user.email)
    assert event.after == {"password_changed": True} and event.before is None
    dumped = json.dumps([e.before for e in _events(db, "user.password_set")] + [event.after], ensure_ascii=False)
    assert "đủ-mười" not in dumped and user.password_hash not in dumped


def test_last_admin_and_self_protection(db, world, now):
    admin = world.admin
    errors = _refusal(lambda: users.set_active(admin, False, actor=admin, now=now))
    assert errors == {"active": [users.SELF_DEACTIVATE]}
    errors = _refusal(lambda: users.update_user(admin, actor=admin, now=now, name=admin.name, locale="vi",
                                                roles=["auditor"]))
    assert errors == {"roles": [users.OWN_ADMIN_ROLE]}
    # another admin cannot remove the last active admin either
    other = world.user("admin2@example.vn", Role.admin)
    db.session.commit()
    assert users.set_active(other, False, actor=admin, now=now)
    db.session.commit()
    errors = _refusal(lambda: users.set_active(admin, False, actor=other, now=now))
    assert errors == {"active": [users.LAST_ADMIN]}
    errors = _refusal(lambda: users.update_user(admin, actor=other, now=now, name=admin.name, locale="vi",
                                                roles=["auditor"]))
    assert errors == {"roles": [users.LAST_ADMIN]}
    # with two active admins one may be deactivated, and reactivated again
    assert users.set_active(other, True, actor=admin, now=now)
    assert users.set_active(admin, False, actor=other, now=now)
    db.session.commit()
    assert [e.after for e in _events(db, "user.deactivated")] == [{"active": False}, {"active": False}]
    assert len(_events(db, "user.activated", other.email)) == 1


def test_user_list_searches_and_filters(db, world):
    found = users.list_users(search="OFFICER")
    assert {u.email for u in found.items} == {world.officers["10001"].email, world.officers["10002"].email}
    commune = _commune(db, "10002")
    assert [u.email for u in users.list_users(role="commune_chair", commune_id=commune.id).items] == [
        world.chairs["10002"].email]
    page = users.list_users(per_page=3, page=2)
    assert page.total == db.session.query(User).count() and len(page.items) == 3 and page.page == 2
    assert users.list_users(status="inactive").total == 0


def test_communes_are_created_and_edited_with_audit(db, world, now):
    commune = users.create_commune({"code": " 20999 ", "name": "Xã Mới", "authority": "UBND huyện Mới",
                                    "email": "XaMoi@Example.vn"}, actor=world.admin, now=now)
    db.session.commit()
    assert commune.code == "20999" and commune.email == "xamoi@example.vn"
    assert commune.authority.name == "UBND huyện Mới"
    assert [e.subject for e in _events(db, "authority.created")] == ["UBND huyện Mới"]
    [created] = _events(db, "commune.created", "20999")
    assert created.after["authority"] == "UBND huyện Mới" and created.after["name"] == "Xã Mới"

    errors = _refusal(lambda: users.create_commune({"code": "10001", "name": "", "authority": "A",
                                                    "email": "bad"}, actor=world.admin, now=now))
    assert errors == {"code": [users.CODE_TAKEN], "name": [users.REQUIRED], "email": [users.EMAIL_INVALID]}
    db.session.rollback()
    assert db.session.scalar(select(Authority).where(Authority.name == "A")) is None

    existing = world.campaign_obj.authority.name
    assert users.update_commune(commune, {"code": "20998", "name": "Xã Mới Sửa", "authority": existing},
                                actor=world.admin, now=now)
    db.session.commit()
    [updated] = _events(db, "commune.updated", "20999")
    assert updated.before == {"authority": "UBND huyện Mới", "code": "20999", "email": "xamoi@example.vn",
                              "name": "Xã Mới"}
    assert updated.after == {"authority": existing, "code": "20998", "email": None, "name": "Xã Mới Sửa"}
    # its own code is not a clash
    assert not users.update_commune(commune, {"code": "20998", "name": "Xã Mới Sửa", "authority": existing},
                                    actor=world.admin, now=now)
    assert [c.code for c in users.list_communes(search="mới").items] == ["20998"]
    # as the board searches: without accents, in capitals ("MOI SUA" is "Mới Sửa"), or by code
    assert [c.code for c in users.list_communes(search="MOI SUA").items] == ["20998"]
    assert [c.code for c in users.list_communes(search="2099").items] == ["20998"]


def test_campaign_lines_count_cases_per_stage(db, world):
    [line] = users.campaign_lines()
    assert line.total == 2 and line.stages == {"planning": 2}
    assert users.directory_counts()["cases"] == 2


def test_two_admins_deactivating_each_other_at_once_leave_one_active(app, db, world, now):
    """The active admins' rows are locked while the rule is checked: a race cannot leave no admin."""
    import threading

    from workflow import txn
    from workflow.errors import Conflict

    second = world.user("admin2@example.vn", Role.admin)
    db.session.commit()
    pairs = [(world.admin.id, second.id), (second.id, world.admin.id)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(actor_id: int, target_id: int):
        with app.app_context():
            try:
                actor, target = db.session.get(User, actor_id), db.session.get(User, target_id)
                barrier.wait(timeout=10)
                with txn.guarded():
                    users.set_active(target, False, actor=actor, now=now)
                txn.commit()
                outcomes.append("won")
            except InvalidInput as exc:
                outcomes.append(exc.message)
            except Conflict:
                outcomes.append("conflict")
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                outcomes.append(f"{type(exc).__name__}: {exc}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) in (["conflict", "won"], [users.LAST_ADMIN, "won"], ["conflict", "conflict"]), outcomes
    db.session.expire_all()
    active = db.session.scalars(select(User.email).where(User.id.in_([world.admin.id, second.id]),
                                                         User.active.is_(True))).all()
    assert len(active) == (2 if outcomes == ["conflict", "conflict"] else 1)

"""Staff accounts: who am I; admins add users and link them to a staff member."""

from __future__ import annotations

from fastapi import APIRouter, status

from scheduler.api.deps import Admin, AnyStaff, RowId, SessionDep
from scheduler.api.errors import R400, R404, R409, R422, SIGNED_IN
from scheduler.api.schemas import StaffLink, UserCreate, UserPublic
from scheduler.service import accounts
from scheduler.storage.tables import User

router = APIRouter(prefix="/users", tags=["users"])


def public(user: User) -> UserPublic:
    return UserPublic(id=user.id, email=user.email, role=user.role,
                      active=user.active, staff_id=user.staff_id)


@router.get("/me", response_model=UserPublic, responses=SIGNED_IN,
            summary="The signed-in user (any staff role)")
def me(user: AnyStaff) -> UserPublic:
    return public(user)


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED,
             responses=R400 | SIGNED_IN | R409 | R422, summary="Add a staff account (admin)")
def add_user(body: UserCreate, user: Admin, session: SessionDep) -> UserPublic:
    return public(accounts.add_user(session, body.email, body.password, body.role, user))


@router.put("/{user_id}/staff", response_model=UserPublic, responses=R400 | SIGNED_IN | R404 | R422,
            summary="Say which staff member an account is, for their own feed link (admin)")
def link_staff(user_id: RowId, body: StaffLink, user: Admin, session: SessionDep) -> UserPublic:
    return public(accounts.link_staff(session, user_id, body.staff_id, user))

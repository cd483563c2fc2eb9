"""Accounts: who am I, change my password; admins list, add, deactivate and reset accounts of
their organization, and say which clinics each works in, with which role, as which staff
member."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from scheduler.api.deps import Admin, RowId, SessionDep, SignedIn
from scheduler.api.errors import R400, R404, R409, R422, SIGNED_IN
from scheduler.api.schemas import (
    MembershipPublic,
    MembershipWrite,
    OneTimePassword,
    PasswordChange,
    StaffLink,
    UserCreate,
    UserPublic,
)
from scheduler.service import accounts
from scheduler.storage.tables import User

router = APIRouter(prefix="/users", tags=["users"])
ClinicPath = Annotated[int, Path(ge=1, le=2_147_483_647, description="A clinic's id")]


def public(user: User) -> UserPublic:
    members = [MembershipPublic(clinic_id=m.clinic_id, role=m.role, staff_id=m.staff_id)
               for m in user.memberships]
    return UserPublic(id=user.id, email=user.email, role=accounts.role_label(user),
                      admin=user.admin, active=user.active,
                      must_change_password=user.must_change_password, memberships=members,
                      staff_id=members[0].staff_id if len(members) == 1 else None)


@router.get("/me", response_model=UserPublic, responses=SIGNED_IN,
            summary="The signed-in account, its clinics and roles (anyone signed in)")
def me(user: SignedIn, session: SessionDep) -> UserPublic:
    return public(user)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT,
             responses=SIGNED_IN | R422,
             summary="Change your own password (the current one required): your other tokens "
                     "and page sessions end (anyone signed in)")
def change_password(body: PasswordChange, user: SignedIn, session: SessionDep,
                    request: Request) -> Response:
    accounts.change_password(session, user, body.current_password, body.new_password,
                             keep_token=getattr(request.state, "token", None))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("", response_model=list[UserPublic], responses=SIGNED_IN,
            summary="The organization's accounts and their memberships (admin)")
def list_users(user: Admin, session: SessionDep) -> list[UserPublic]:
    return [public(u) for u in accounts.users(session, user)]


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED,
             responses=R400 | SIGNED_IN | R409 | R422,
             summary="Add an account: an admin, or a role in some clinics (admin)")
def add_user(body: UserCreate, user: Admin, session: SessionDep) -> UserPublic:
    return public(accounts.add_user(session, body.email, body.password, body.role,
                                             user, body.clinic_ids))


@router.put("/{user_id}/staff", response_model=UserPublic, responses=R400 | SIGNED_IN | R404 | R422,
            summary="Say which staff member an account is in a clinic, for their own feed link "
                    "(admin)")
def link_staff(user_id: RowId, body: StaffLink, user: Admin, session: SessionDep) -> UserPublic:
    return public(accounts.link_staff(session, user_id, body.staff_id, user,
                                               body.clinic_id))


@router.put("/{user_id}/memberships/{member_of}", response_model=UserPublic,
            responses=R400 | SIGNED_IN | R404 | R422,
            summary="Make an account a front desk or manager of a clinic, as one of its staff "
                    "members or none (admin)")
def set_membership(user_id: RowId, member_of: ClinicPath, body: MembershipWrite, user: Admin,
                   session: SessionDep) -> UserPublic:
    return public(accounts.set_membership(session, user_id, member_of, body.role,
                                                   body.staff_id, user))


@router.delete("/{user_id}/memberships/{member_of}", response_model=UserPublic,
               responses=R400 | SIGNED_IN | R404 | R422,
               summary="End an account's membership of a clinic, and its staff feed link there "
                       "(admin)")
def end_membership(user_id: RowId, member_of: ClinicPath, user: Admin,
                   session: SessionDep) -> UserPublic:
    return public(accounts.set_membership(session, user_id, member_of, None, None,
                                                   user))


@router.post("/{user_id}/deactivate", response_model=UserPublic,
             responses=R400 | SIGNED_IN | R404 | R422,
             summary="Deactivate an account: its tokens, page sessions and staff feed links end "
                     "at once (admin)")
def deactivate(user_id: RowId, user: Admin, session: SessionDep) -> UserPublic:
    return public(accounts.set_active(session, user_id, False, user))


@router.post("/{user_id}/activate", response_model=UserPublic,
             responses=R400 | SIGNED_IN | R404 | R422, summary="Reactivate an account (admin)")
def activate(user_id: RowId, user: Admin, session: SessionDep) -> UserPublic:
    return public(accounts.set_active(session, user_id, True, user))


@router.post("/{user_id}/reset-password", response_model=OneTimePassword,
             responses=R400 | SIGNED_IN | R404 | R422,
             summary="A new one-time password for an account, shown once; it must be changed at "
                     "the next sign-in, and the account's sessions end (admin)")
def reset_password(user_id: RowId, user: Admin, session: SessionDep,
                   response: Response) -> OneTimePassword:
    target, password = accounts.reset_password(session, user_id, user)
    response.headers["Cache-Control"] = "no-store"
    return OneTimePassword(user_id=target.id, password=password)

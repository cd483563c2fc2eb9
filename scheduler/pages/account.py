"""Your own account: change your password (the first sign-in with a one-time password comes
here and nowhere else), your sessions and tokens, signing out of one or all of them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from scheduler.errors import InvalidInput, Issue
from scheduler.pages.web import (
    COOKIE,
    PASSWORD_PAGE,
    Csrf,
    FormFields,
    PageSession,
    SignedInUser,
    page,
    redirect,
)
from scheduler.service import accounts
from scheduler.storage.tables import User

router = APIRouter(include_in_schema=False)


def _account(request: Request, session: PageSession, user: User) -> dict[str, object]:
    return {"sessions": accounts.tokens(session, user, request.cookies.get(COOKIE))}


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, user: SignedInUser, session: PageSession) -> Response:
    if user.must_change_password:
        return RedirectResponse(PASSWORD_PAGE, status_code=303)
    return page(request, "account.html", _account(request, session, user))


@router.get(PASSWORD_PAGE, response_class=HTMLResponse)
def password_page(request: Request, user: SignedInUser) -> HTMLResponse:
    return page(request, "password.html", {"forced": user.must_change_password})


@router.post(PASSWORD_PAGE, response_class=HTMLResponse, dependencies=[Csrf])
def change_password(request: Request, form: FormFields, user: SignedInUser,
                    session: PageSession) -> Response:
    new = form.get("new_password", "")
    issues = []
    if new != form.get("repeat_password", ""):
        issues.append(Issue("repeat_password", "does not match the new password"))
    try:
        if issues:
            raise InvalidInput(issues)
        accounts.change_password(session, user, form.get("current_password", ""), new,
                                 keep_token=request.cookies.get(COOKIE))
    except InvalidInput as exc:
        return page(request, "password.html", {"forced": user.must_change_password},
                    status_code=422, errors=exc.issues)
    return redirect("/account?changed=1")


@router.post("/account/sessions", dependencies=[Csrf])
def end_sessions(request: Request, form: FormFields, user: SignedInUser,
                 session: PageSession) -> Response:
    """End one session or token (``token``), or every one (``all``: this one too)."""
    if form.get("all"):
        accounts.sign_out_everywhere(session, user)
        response = redirect("/login")
        response.delete_cookie(COOKIE, path="/")
        return response
    token_id = form.get("token", "")
    if not token_id.isdigit() or len(token_id) > 10:
        raise InvalidInput([Issue("token", "is not one of your sessions")])
    accounts.end_token(session, user, int(token_id))
    return redirect("/account?ended=1")

"""Authentication and the caller's profile (API.md, Authentication)."""
from .._route import Route, Section
from ..models import Session, TokenPair, User


class Auth(Section):
    """Sign-up, log-in, token refresh, log-out, the session and the profile."""

    signup = Route("POST", "/auth/signup", model=User)
    login = Route("POST", "/auth/login", model=TokenPair)
    refresh = Route("POST", "/auth/refresh", model=TokenPair)
    logout = Route("POST", "/auth/logout")
    password_reset = Route("POST", "/auth/password-reset", doc="email -> 202 always; mails a one-time link valid 1 hour")
    password_reset_confirm = Route("POST", "/auth/password-reset/confirm", doc="uid, token, new_password -> 200; revokes every login")
    session = Route("GET", "/auth/session", model=Session)
    me = Route("GET", "/users/me", model=User)
    update_me = Route("PATCH", "/users/me", model=User)

"""Staff accounts, roles, sign-in sessions and sign-in throttling.

Passwords are hashed with argon2id. A signed-in browser holds a random token in an HttpOnly
cookie; the database keeps only its SHA-256, the role is re-read from the account on every
request (a demoted or deactivated account loses access at once).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..store.models import LoginAttempt, StaffSession, StaffUser, as_utc, utcnow

ROLES: tuple[str, ...] = ("support", "operator", "admin")
ROLE_LABELS = {"support": "Support", "operator": "Opérateur", "admin": "Administrateur"}
SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 10

# Sign-in throttling: after MAX_FAILURES failed attempts for one e-mail or one address
# within WINDOW, further attempts are refused until the oldest one leaves the window.
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)

_hasher = PasswordHasher()  # stateless and thread-safe: a constant, not mutable state


class AccountError(ValueError):
    """The account cannot be created or changed; the message says why, in French."""


@dataclass(frozen=True)
class Staff:
    """The signed-in person, as the pages see them."""

    id: int
    email: str
    name: str
    role: str
    csrf_token: str
    session_id: int

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def display_name(self) -> str:
        return self.name or self.email


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Le mot de passe doit faire au moins {MIN_PASSWORD_LENGTH} caractères.")


def create_user(
    session: Session, email: str, password: str, role: str, name: str = ""
) -> StaffUser:
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise AccountError("Adresse e-mail invalide.")
    if role not in ROLES:
        raise AccountError(f"Rôle inconnu « {role} » : choisissez parmi {', '.join(ROLES)}.")
    check_new_password(password)
    if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise AccountError(f"Un compte existe déjà pour {email}.")
    user = StaffUser(email=email, name=name.strip()[:128], role=role)
    user.password_hash = hash_password(password)
    session.add(user)
    session.flush()
    return user


def set_password(user: StaffUser, password: str) -> None:
    check_new_password(password)
    user.password_hash = hash_password(password)


def reset_password(session: Session, email: str, password: str) -> StaffUser:
    """A way back in (from the command line): new password, account re-enabled, every
    session closed."""
    email = normalise_email(email)
    user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    if user is None:
        raise AccountError(f"Aucun compte pour {email}.")
    set_password(user, password)
    user.active = True
    end_sessions(session, user.id)
    return user


def staff_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(StaffUser)) or 0


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: a session token, or why not."""

    token: str | None = None
    error: str = ""
    throttled: bool = False


def _recent_failures(session: Session, email: str, ip: str, now: datetime) -> list[datetime]:
    since = now - WINDOW
    rows = session.scalars(
        select(LoginAttempt.created_at).where(
            LoginAttempt.success.is_(False),
            LoginAttempt.created_at >= since,
            (LoginAttempt.email == email) | (LoginAttempt.ip == ip),
        )
    ).all()
    return sorted(as_utc(r) for r in rows)


def sign_in(session: Session, email: str, password: str, ip: str) -> SignIn:
    now = utcnow()
    email = normalise_email(email)[:254]
    failures = _recent_failures(session, email, ip, now)
    if len(failures) >= MAX_FAILURES:
        wait = failures[-MAX_FAILURES] + WINDOW - now
        minutes = max(1, round(wait.total_seconds() / 60))
        return SignIn(
            error=f"Trop de tentatives de connexion. Réessayez dans {minutes} minute"
            f"{'s' if minutes > 1 else ''}.",
            throttled=True,
        )
    user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    ok = False
    if user is not None and user.active:
        ok = verify_password(user.password_hash, password)
    else:
        # Same work whether or not the account exists: no timing hint about e-mails.
        _hasher.hash(password)
    session.add(LoginAttempt(email=email, ip=ip[:64], success=ok, created_at=now))
    if not ok or user is None:
        return SignIn(error="Adresse e-mail ou mot de passe incorrect.")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=_digest(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    return SignIn(token=token)


def staff_for_token(session: Session, token: str | None) -> Staff | None:
    if not token:
        return None
    row = session.execute(
        select(StaffSession, StaffUser)
        .join(StaffUser, StaffSession.user_id == StaffUser.id)
        .where(StaffSession.token_hash == _digest(token))
    ).first()
    if row is None:
        return None
    staff_session, user = row
    if not user.active or as_utc(staff_session.expires_at) < utcnow():
        return None
    return Staff(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        csrf_token=staff_session.csrf_token,
        session_id=staff_session.id,
    )


def sign_out(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(StaffSession).where(StaffSession.token_hash == _digest(token)))


def end_sessions(session: Session, user_id: int) -> None:
    """Sign a person out everywhere (deactivated account, new password)."""
    session.execute(delete(StaffSession).where(StaffSession.user_id == user_id))


def same_token(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

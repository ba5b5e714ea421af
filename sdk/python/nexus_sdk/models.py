"""Typed answers, written with pydantic (see README: why not generated).

Every model allows extra fields, so a server that adds a field never breaks an older SDK; the
fields declared here are the ones API.md promises. `model["field"]` also works, for fields the
SDK does not declare yet.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class Resource(BaseModel):
    """Base of every answer model: unknown fields are kept, `obj["name"]` reads any field."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        """A field's value, or `default`."""
        return getattr(self, name, default)


class ServerEvent(Resource):
    """One Server-Sent Event: its `id`, `event` name, `type`, and the payload's fields as attributes."""

    id: str | None = None
    event: str | None = None
    type: str
    data: dict[str, Any]


# Accounts
class User(Resource):
    """A user profile."""

    id: Any = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class TokenPair(Resource):
    """What /auth/login and /auth/refresh answer."""

    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int | None = None


class Session(Resource):
    """The caller, as /auth/session describes them."""

    user: dict[str, Any] | None = None
    roles: list[Any] = []
    tier: Any = None
    auth_method: str | None = None


class ApiKey(Resource):
    """An API key (`key` is only present in the answer that created it)."""

    id: str
    name: str
    scopes: list[str] = []
    key: str | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None


class Workspace(Resource):
    """A workspace."""

    id: str
    name: str


class Member(Resource):
    """A workspace membership."""

    role: str | None = None


class Invitation(Resource):
    """An invitation to a workspace: `status` is pending, accepted, revoked or expired."""

    id: str
    email: str
    role: str
    status: str
    created_at: datetime | None = None
    expires_at: datetime | None = None


class InvitationSent(Resource):
    """What inviting answers (202), whether or not the address has an account."""

    invitation: Invitation


# Models and chat
class Model(Resource):
    """A model the caller may use."""

    id: str
    name: str
    provider: str | None = None
    capabilities: list[str] = []


class Conversation(Resource):
    """A chat conversation."""

    id: str
    title: str | None = None
    message_count: int | None = None
    folder_id: str | None = None


class Message(Resource):
    """A message of a conversation."""

    id: str
    role: str
    content: str
    status: str | None = None
    created_at: datetime | None = None


class Folder(Resource):
    """A conversation folder."""

    id: str
    name: str | None = None


class Comparison(Resource):
    """A side-by-side comparison of two models."""

    comparison_id: str | None = None
    model1: dict[str, Any] | None = None
    model2: dict[str, Any] | None = None


# Knowledge
class Repository(Resource):
    """A knowledge repository."""

    id: str
    name: str
    description: str | None = None
    document_count: int | None = None
    chunk_count: int | None = None


class Document(Resource):
    """A document in a repository (`document_id` on the upload answer, `id` elsewhere)."""

    id: str | None = None
    document_id: str | None = None
    filename: str | None = None
    status: str | None = None
    chunk_count: int | None = None
    error: Any = None


class SearchResult(Resource):
    """One chunk found by /knowledge/search."""

    chunk_id: str
    document_id: str
    repository_id: str | None = None
    content: str
    score: float
    metadata: dict[str, Any] = {}


# Architect
class ArchitectTool(Resource):
    """An Assistant Architect tool (a prompt chain)."""

    id: str
    name: str
    status: str | None = None


class Execution(Resource):
    """An Assistant Architect execution."""

    id: str
    status: str | None = None


# Billing
class Balance(Resource):
    """The caller's credit balance."""

    balance: float
    tier: Any = None


class Transaction(Resource):
    """A credit ledger entry."""

    id: Any = None
    type: str | None = None
    amount: float | None = None


# Forge
class Build(Resource):
    """A Forge build (`session_id` on the start answer, `id` elsewhere)."""

    id: str | None = None
    session_id: str | None = None
    status: str | None = None
    websocket_url: str | None = None


# Generic answers
class Record(Resource):
    """An answer the SDK does not model field by field yet."""

"""Conversations and their messages (API.md, Chat)."""
from .._route import Route, Section, resume_same
from ..models import Conversation, Message


class Conversations(Section):
    """The caller's conversations."""

    list = Route("GET", "/conversations", kind="page", model=Conversation)
    create = Route("POST", "/conversations", model=Conversation)
    get = Route("GET", "/conversations/{id}", model=Conversation)
    update = Route("PATCH", "/conversations/{id}", model=Conversation)
    delete = Route("DELETE", "/conversations/{id}")
    messages = Route("GET", "/conversations/{id}/messages", kind="page", model=Message)
    stream = Route("GET", "/conversations/{id}/stream", kind="sse", resume=resume_same,
                   doc="re-attach to the reply being generated (ends at once when nothing is)")
    stop = Route("POST", "/conversations/{id}/stop")

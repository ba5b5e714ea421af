"""Python client for the Nexus API: `from nexus_sdk import NexusClient`."""
from ._transport import RetryPolicy
from .client import AsyncNexusClient, NexusClient
from .errors import (
    APIError,
    Conflict,
    Forbidden,
    InsufficientCredits,
    InternalError,
    MethodNotAllowed,
    ModelUnavailable,
    NexusConnectionError,
    NexusError,
    NexusTimeout,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    StreamError,
    Unauthorized,
    UnsupportedMediaType,
    ValidationError,
)
from .models import ServerEvent
from .sse import AsyncEventStream, EventStream
from .websocket import WsMessage

__version__ = "0.1.0"
__all__ = [
    "APIError", "AsyncEventStream", "AsyncNexusClient", "Conflict", "EventStream", "Forbidden", "InsufficientCredits",
    "InternalError", "MethodNotAllowed", "ModelUnavailable", "NexusClient", "NexusConnectionError", "NexusError",
    "NexusTimeout", "NotFound", "PayloadTooLarge", "RateLimited", "RetryPolicy", "ServerEvent", "ServiceUnavailable",
    "StreamError", "Unauthorized", "UnsupportedMediaType", "ValidationError", "WsMessage",
]

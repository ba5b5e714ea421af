"""One module per API section. To add a section: write `sections/<name>.py` with a `Section`
subclass of `Route`s, and add it to SECTIONS below; both clients and the coverage check pick it up."""
from __future__ import annotations

from .._route import Section
from .admin import Admin
from .agents import Agents
from .architect import Architect
from .artifacts import Artifacts, Shared
from .auth import Auth
from .billing import Billing
from .chat import Chat
from .connections import Connections
from .conversations import Conversations
from .documents import Documents
from .folders import Folders
from .forge import Forge
from .keys import Keys
from .knowledge import Knowledge
from .models import Models
from .system import System
from .tasks import Tasks
from .tools import Tools
from .voice import Voice
from .workflows import Runs, Workflows
from .workspaces import Workspaces

SECTIONS: dict[str, type[Section]] = {
    "auth": Auth,
    "keys": Keys,
    "workspaces": Workspaces,
    "admin": Admin,
    "system": System,
    "models": Models,
    "chat": Chat,
    "conversations": Conversations,
    "folders": Folders,
    "architect": Architect,
    "knowledge": Knowledge,
    "documents": Documents,
    "billing": Billing,
    "forge": Forge,
    "agents": Agents,
    "tasks": Tasks,
    "workflows": Workflows,
    "runs": Runs,
    "connections": Connections,
    "artifacts": Artifacts,
    "shared": Shared,
    "voice": Voice,
    "tools": Tools,
}

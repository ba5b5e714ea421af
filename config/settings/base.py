"""Settings shared by every environment, composed from one module per topic (each lists its names in __all__).

Adding a setting: put it in the module of its topic (or a new one imported here), and add it to that
module's __all__. local.py, production.py and test.py start from these and override a few.
"""
from __future__ import annotations

from .accounts import *  # noqa: F403
from .agents import *  # noqa: F403
from .api import *  # noqa: F403
from .architect import *  # noqa: F403
from .billing import *  # noqa: F403
from .celery import *  # noqa: F403
from .channels import *  # noqa: F403
from .chat import *  # noqa: F403
from .database import *  # noqa: F403
from .environment import APPS_DIR, BASE_DIR, NEXUS_VERSION, env  # noqa: F401  (the environment files read)
from .forge import *  # noqa: F403
from .general import *  # noqa: F403
from .integrations import *  # noqa: F403
from .knowledge import *  # noqa: F403
from .llm import *  # noqa: F403
from .logs import *  # noqa: F403
from .security import *  # noqa: F403
from .storage import *  # noqa: F403
from .tools import *  # noqa: F403
from .voice import *  # noqa: F403
from .workflows import *  # noqa: F403

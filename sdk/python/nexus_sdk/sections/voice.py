"""Voice (API.md, Voice): settings, sessions, one-shot transcription and speech."""
from .._route import Route, Section


class Voice(Section):
    """Spoken conversations: `sessions_create` gives a `websocket_url` for WS /ws/voice/{id}; one-shot audio routes."""

    config = Route("GET", "/voice/config", doc="the caller's voice settings")
    config_update = Route("PUT", "/voice/config", doc="stt_model_id, tts_model_id, chat_model_id, voice, language, system_prompt")
    sessions_create = Route("POST", "/voice/sessions", doc="conversation_id?, config? -> {id, websocket_url, expires_at}")
    session = Route("GET", "/voice/sessions/{id}")
    session_end = Route("DELETE", "/voice/sessions/{id}")
    transcribe = Route("POST", "/voice/transcriptions", kind="upload", doc="file (wav, mp3, webm, ogg; at most 25 MB), language?, model_id?")
    speech = Route("POST", "/voice/speech", kind="bytes", doc="text, voice?, format? (mp3|wav|opus) -> the audio bytes")

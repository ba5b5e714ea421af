"""Voice API: settings, sessions, one-shot transcription and speech, and the telephony webhooks."""
from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.caller import request_user
from apps.accounts.models import ApiKey
from apps.accounts.permissions import HasTool
from apps.core.errors import ApplicationError, ValidationError
from apps.core.openapi import error_responses
from apps.core.parsers import json_loads_bounded
from apps.core.serializers import StrictCharField

from .. import services
from ..audio import SPEECH_FORMATS
from ..errors import AudioTooLarge
from ..models import VoiceSession, VoiceSessionStatus, WebhookProvider
from ..selectors import (
    speech_model_default,
    voice_config_dict,
    voice_config_get,
    voice_session_get,
    voice_session_idle_cutoff,
)
from ..speech import speech_run, transcription_run
from ..telephony import daily_verify, twilio_verify, twiml_gather, twiml_say_and_hang_up
from ..turns import voice_reply_text
from .serializers import (
    SpeechRequestSerializer,
    TranscriptionSerializer,
    VoiceConfigSerializer,
    VoiceSessionCreateSerializer,
    VoiceSessionSerializer,
)

TOOL: type[BasePermission] = HasTool("voice")  # type: ignore[assignment]  # DRF calls each entry; a HasTool returns itself


def _api_key(request: Request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationError("The body must be a JSON object.")
    return request.data


class VoiceConfigApi(APIView):
    """The caller's voice settings; PUT replaces them."""

    permission_classes = [TOOL]
    required_scope = "voice"

    @extend_schema(operation_id="voice_config_retrieve", responses={200: VoiceConfigSerializer})
    def get(self, request: Request) -> Response:
        return Response(voice_config_dict(voice_config_get(user=request_user(request))))

    @extend_schema(operation_id="voice_config_update", request=VoiceConfigSerializer, responses={200: VoiceConfigSerializer})
    def put(self, request: Request) -> Response:
        body = VoiceConfigSerializer(data=_body(request))
        body.is_valid(raise_exception=True)
        config = services.voice_config_update(user=request_user(request), **body.validated_data)
        return Response(voice_config_dict(config))


class VoiceSessionCreateApi(APIView):
    """Start a voice session (a conversation spoken over `websocket_url`)."""

    permission_classes = [TOOL]
    required_scope = "voice"

    @extend_schema(operation_id="voice_sessions_create", request=VoiceSessionCreateSerializer,
                   responses={201: VoiceSessionSerializer, **error_responses(404)})
    def post(self, request: Request) -> Response:
        body = VoiceSessionCreateSerializer(data=_body(request) if request.data else {})
        body.is_valid(raise_exception=True)
        session = services.voice_session_create(user=request_user(request), conversation_id=body.validated_data.get("conversation_id"),
                                                config=body.validated_data.get("config"))
        return Response(VoiceSessionSerializer(session, context={"request": request}).data, status=status.HTTP_201_CREATED)


class VoiceSessionDetailApi(APIView):
    """One of the caller's sessions; DELETE ends it."""

    permission_classes = [TOOL]
    required_scope = "voice"

    @extend_schema(operation_id="voice_sessions_retrieve", responses={200: VoiceSessionSerializer, **error_responses(404)})
    def get(self, request: Request, pk: str) -> Response:
        session = voice_session_get(user=request_user(request), session_id=pk)
        return Response(VoiceSessionSerializer(session, context={"request": request}).data)

    @extend_schema(operation_id="voice_sessions_destroy", responses={204: None, **error_responses(404)})
    def delete(self, request: Request, pk: str) -> Response:
        services.voice_session_end(session=voice_session_get(user=request_user(request), session_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _model_for(request: Request, key: str, explicit: Any) -> Any:
    """The model a one-shot call uses: the request's, else the caller's settings (None: the default model)."""
    if explicit:
        return str(explicit)
    configured = voice_config_dict(voice_config_get(user=request_user(request))).get(key)
    return configured or None


class VoiceTranscriptionApi(APIView):
    """Speech to text of one uploaded file (its type read from the content, not the name)."""

    permission_classes = [TOOL]
    required_scope = "voice"
    parser_classes = [MultiPartParser, FormParser]
    # The body may be larger than MAX_REQUEST_BYTES: the audio limit plus the multipart framing.
    max_request_bytes = settings.VOICE_MAX_AUDIO_BYTES + 64 * 1024

    @extend_schema(
        operation_id="voice_transcriptions_create",
        request={"multipart/form-data": inline_serializer("VoiceTranscriptionUpload", {
            "file": serializers.FileField(), "language": StrictCharField(required=False),
            "model_id": serializers.UUIDField(required=False)})},
        responses={200: TranscriptionSerializer, **error_responses(402, 404, 413, 415, 503)},
    )
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError("Send the audio as the multipart field `file`.", details={"file": ["No file was submitted."]})
        if upload.size is not None and upload.size > settings.VOICE_MAX_AUDIO_BYTES:
            raise AudioTooLarge(f"Audio is limited to {settings.VOICE_MAX_AUDIO_BYTES} bytes.")
        form: Any = request.data  # a QueryDict of the multipart fields
        model = _model_for(request, "stt_model_id", form.get("model_id"))
        language = str(form.get("language") or voice_config_get(user=request_user(request)).language or "")[:16]
        user = request_user(request)
        result = async_to_sync(transcription_run)(user=user, audio=upload.read(), model=model or _default(user, "stt"),
                                                  language=language, api_key=_api_key(request))
        return Response({"text": result.text, "language": result.language, "duration_seconds": result.duration_seconds})


def _default(user: Any, capability: str) -> Any:
    """The id of the default model with `capability` for the caller (404 when there is none)."""
    return speech_model_default(user=user, capability=capability).id


class VoiceSpeechApi(APIView):
    """Text to speech: answers the audio bytes (Content-Type by `format`)."""

    permission_classes = [TOOL]
    required_scope = "voice"

    @extend_schema(
        operation_id="voice_speech_create", request=SpeechRequestSerializer,
        responses={**{(200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description="The speech, in the format asked for.")
                      for media_type in ("audio/mpeg", "audio/wav", "audio/ogg")}, **error_responses(402, 404, 503)},
    )
    def post(self, request: Request) -> HttpResponse:
        body = SpeechRequestSerializer(data=_body(request))
        body.is_valid(raise_exception=True)
        user = request_user(request)
        config = voice_config_get(user=user)
        model = _model_for(request, "tts_model_id", body.validated_data.get("model_id")) or _default(user, "tts")
        audio_format = body.validated_data["format"]
        result = async_to_sync(speech_run)(user=user, text=body.validated_data["text"], model=model,
                                           voice=body.validated_data.get("voice") or config.voice, audio_format=audio_format,
                                           api_key=_api_key(request))
        # The provider's own type when it names one (a local server may answer WAV whatever was asked).
        media_type = result.media_type if result.media_type.startswith("audio/") else SPEECH_FORMATS[audio_format]
        return HttpResponse(result.data, content_type=media_type)


TWIML = OpenApiResponse(OpenApiTypes.STR, description="TwiML (application/xml).")


def _call_session(session_id: Any) -> VoiceSession | None:
    """The active session a phone number's webhook URL names (`?session_id=`; the URL is covered by the signature)."""
    try:
        return VoiceSession.objects.select_related("user").filter(
            pk=session_id, status=VoiceSessionStatus.ACTIVE, last_active_at__gte=voice_session_idle_cutoff()).first()
    except Exception:  # a malformed id
        return None


class TwilioWebhookApi(APIView):
    """Twilio's voice webhook: verified with TWILIO_AUTH_TOKEN; gathers speech and says the reply of the linked session."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []
    parser_classes = [FormParser]

    @extend_schema(
        operation_id="voice_webhook_twilio",
        request={"application/x-www-form-urlencoded": inline_serializer("TwilioVoiceRequest", {
            "CallSid": StrictCharField(required=False), "SpeechResult": StrictCharField(required=False)})},
        parameters=[OpenApiParameter("X-Twilio-Signature", str, OpenApiParameter.HEADER, required=True,
                                     description="Twilio's signature of the URL and form fields; a wrong or missing one answers 403."),
                    OpenApiParameter("session_id", OpenApiTypes.UUID, OpenApiParameter.QUERY, required=False,
                                     description="The voice session the call speaks in (part of the signed URL).")],
        responses={(200, "application/xml"): TWIML, **error_responses(403)},
    )
    def post(self, request: Request) -> HttpResponse:
        params: Any = request.data  # a QueryDict of the form fields Twilio signed
        url = request.build_absolute_uri()
        twilio_verify(url=url, params=params, signature=request.headers.get("X-Twilio-Signature"))
        session = _call_session(request.query_params.get("session_id"))
        speech = str(params.get("SpeechResult") or "").strip()
        services.voice_webhook_event_record(
            provider=WebhookProvider.TWILIO, event_type="speech" if speech else str(params.get("CallStatus") or "call"),
            external_id=str(params.get("CallSid") or ""), payload={key: params.get(key) for key in params}, session=session)
        if session is None:
            twiml = twiml_say_and_hang_up("This number is not linked to a voice session.")
        elif not speech:
            twiml = twiml_gather(action=url, say="Hello. How can I help?", language=(session.config or {}).get("language") or "")
        else:
            try:
                reply = async_to_sync(voice_reply_text)(session=session, user=session.user, text=speech)
            except ApplicationError as exc:
                # The caller is on the phone: a refusal (credits, limits, provider down) is said, not answered as JSON to Twilio.
                reply = f"Sorry, I cannot answer right now. {exc.message}"
            twiml = twiml_gather(action=url, say=reply, language=(session.config or {}).get("language") or "")
        return HttpResponse(twiml, content_type="application/xml")


class DailyWebhookApi(APIView):
    """Daily's webhook (rooms, participants, recordings): verified with DAILY_WEBHOOK_SECRET, each event recorded."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []
    parser_classes: list[type] = []  # the signature covers the raw body: it is read as bytes

    @extend_schema(
        operation_id="voice_webhook_daily", request={"application/json": OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter("X-Webhook-Signature", str, OpenApiParameter.HEADER, required=True,
                                     description="base64 HMAC-SHA256 of `{timestamp}.{body}`; a wrong or missing one answers 403."),
                    OpenApiParameter("X-Webhook-Timestamp", str, OpenApiParameter.HEADER, required=True)],
        responses={200: inline_serializer("DailyWebhookReceived", {"received": serializers.BooleanField()}), **error_responses(403)},
    )
    def post(self, request: Request) -> Response:
        body = request.body
        daily_verify(body=body, timestamp=request.headers.get("X-Webhook-Timestamp"), signature=request.headers.get("X-Webhook-Signature"))
        try:
            event = json_loads_bounded(body) if body else {}
        except UnicodeDecodeError as exc:
            raise ValidationError("The body must be a JSON object.") from exc
        if not isinstance(event, dict):
            raise ValidationError("The body must be a JSON object.")
        services.voice_webhook_event_record(provider=WebhookProvider.DAILY, event_type=str(event.get("type") or "test"),
                                            external_id=str(event.get("id") or ""), payload=event)
        return Response({"received": True})

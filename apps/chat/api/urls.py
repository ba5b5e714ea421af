"""Chat routes (mounted under /api/v1/)."""
from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
router.register("conversations", views.ConversationViewSet, basename="conversation")
router.register("folders", views.FolderViewSet, basename="folder")
router.register("comparisons", views.ComparisonViewSet, basename="comparison")

urlpatterns = [
    path("chat", views.ChatApi.as_view(), name="chat"),
    path("compare", views.CompareApi.as_view(), name="compare"),
    path("conversations/<uuid:pk>/messages", views.ConversationMessagesApi.as_view(), name="conversation-messages"),
    path("conversations/<uuid:pk>/stream", views.ConversationStreamApi.as_view(), name="conversation-stream"),
    path("conversations/<uuid:pk>/stop", views.ConversationStopApi.as_view(), name="conversation-stop"),
    *router.urls,
]

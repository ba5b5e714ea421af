"""Django admin for chat."""
from django.contrib import admin

from .models import Comparison, Conversation, Folder, Message


class MessageInline(admin.TabularInline):
    """Messages of a conversation, read-only."""

    model = Message
    extra = 0
    fields = readonly_fields = ("role", "status", "content", "model_name", "token_usage", "created_at")
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Conversations with their messages."""

    list_display = ["title", "owner", "model_name", "message_count", "last_message_at"]
    search_fields = ["title", "owner__email"]
    list_filter = ["provider"]
    raw_id_fields = ["owner", "folder", "workspace"]
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Messages, to find failed or incomplete replies."""

    list_display = ["id", "conversation", "role", "status", "model_name", "created_at"]
    list_filter = ["status", "role"]
    raw_id_fields = ["conversation"]


admin.site.register(Folder)


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    """Stored comparisons."""

    list_display = ["id", "owner", "model1_name", "model2_name", "created_at"]
    raw_id_fields = ["owner"]

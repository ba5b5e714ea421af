"""Dashboard pages of the knowledge app: repositories, documents with live upload progress, retrieval debugger.

Forms post with CSRF and call the same services as the API. Uploads and live progress run in the
browser against the JSON API (session cookie), so the page works the same with local storage and
with S3 presigned uploads.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.caller import request_user
from apps.accounts.selectors import user_has_tool, workspace_list
from apps.core.errors import ApplicationError

from . import services, storage
from .filetypes import CONTENT_TYPES, EXTENSIONS, allowed_kinds
from .search import MODES, search_chunks
from .selectors import (
    document_get_for_user,
    document_list_for_repository,
    repository_can_write,
    repository_get_for_user,
    repository_ids_for_user,
    repository_list_for_user,
)

if TYPE_CHECKING:
    from apps.accounts.models import User


def _require_tool(request: HttpRequest) -> None:
    if not user_has_tool(request.user, "knowledge"):
        raise PermissionDenied("Your roles do not grant the knowledge tool.")


class RepositoryForm(forms.Form):
    """Create a repository, optionally shared with a workspace."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    workspace_id = forms.ChoiceField(required=False, label="Share with workspace")

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["workspace_id"]
        assert isinstance(field, forms.ChoiceField)  # declared above
        field.choices = [("", "Private")] + [(str(w.pk), w.name) for w in workspace_list(user=user)]


class DebuggerForm(forms.Form):
    """A query against chosen repositories, as the retrieval debugger runs it."""

    q = forms.CharField(max_length=2000, label="Query")
    repository = forms.MultipleChoiceField(required=False, label="Repositories (none: all)")
    # Mode and limit fall back to their defaults when a link gives only the query (or only a repository).
    mode = forms.ChoiceField(choices=[(mode, mode) for mode in MODES], initial="hybrid", required=False)
    limit = forms.IntegerField(min_value=1, max_value=50, initial=10, required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["repository"]
        assert isinstance(field, forms.ChoiceField)  # declared above (a MultipleChoiceField)
        field.choices = [(str(r.pk), r.name) for r in repository_list_for_user(user=user)]


@login_required
def repositories(request: HttpRequest) -> HttpResponse:
    """The caller's repositories, and a form to create one."""
    _require_tool(request)
    form = RepositoryForm(request.POST or None, user=request_user(request))
    if request.method == "POST" and form.is_valid():
        try:
            repository = services.repository_create(
                user=request_user(request),
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                workspace_id=form.cleaned_data["workspace_id"] or None,
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Repository “{repository.name}” created.")
            return redirect("knowledge:repository", repository_id=repository.pk)
    items = repository_list_for_user(user=request_user(request)).select_related("workspace")
    return render(request, "knowledge/repositories.html", {"repositories": items, "form": form})


@login_required
def repository_detail(request: HttpRequest, repository_id: Any) -> HttpResponse:
    """One repository: drag-and-drop upload, documents with live status and progress."""
    _require_tool(request)
    try:
        repository = repository_get_for_user(user=request_user(request), repository_id=repository_id)
    except ApplicationError:
        return render(request, "404.html", status=404)
    accept = ",".join(sorted(ext for ext, kind in EXTENSIONS.items() if kind in allowed_kinds()))
    context = {
        "repository": repository,
        "documents": document_list_for_repository(user=request_user(request), repository_id=repository.pk)[:200],
        "can_write": repository_can_write(user=request_user(request), repository=repository),
        "presigned": storage.s3_enabled(),
        "max_bytes": services.upload_limit(user=request_user(request)),
        "accept": accept,
        "allowed": ", ".join(kind.upper() for kind in CONTENT_TYPES if kind in allowed_kinds()),
    }
    return render(request, "knowledge/repository_detail.html", context)


@login_required
@require_POST
def repository_delete(request: HttpRequest, repository_id: Any) -> HttpResponse:
    """Delete a repository with everything in it."""
    _require_tool(request)
    try:
        repository = repository_get_for_user(user=request_user(request), repository_id=repository_id)
        services.repository_delete(user=request_user(request), repository=repository)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("knowledge:repositories")
    messages.success(request, f"Repository “{repository.name}” deleted.")
    return redirect("knowledge:repositories")


@login_required
@require_POST
def document_action(request: HttpRequest, document_id: Any, action: str) -> HttpResponse:
    """Reprocess or delete a document from the document list (a form fallback for the JS buttons)."""
    _require_tool(request)
    try:
        document = document_get_for_user(user=request_user(request), document_id=document_id)
        repository_id = document.repository_id
        if action == "reprocess":
            services.document_reprocess(user=request_user(request), document=document)
            messages.success(request, f"“{document.filename}” queued for processing.")
        elif action == "delete":
            services.document_delete(user=request_user(request), document=document)
            messages.success(request, f"“{document.filename}” deleted.")
        else:
            return render(request, "404.html", status=404)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("knowledge:repositories")
    return redirect("knowledge:repository", repository_id=repository_id)


@login_required
def debugger(request: HttpRequest) -> HttpResponse:
    """Retrieval debugger: a query's ranked chunks with vector score, keyword score and fused rank."""
    _require_tool(request)
    # A search is asked for by its query; a link that only picks repositories (the repository page's) opens
    # an unbound form with those repositories chosen, so it lands without "This field is required" errors.
    searched = "q" in request.GET
    initial = {"repository": request.GET.getlist("repository"), "mode": "hybrid", "limit": 10}
    form = DebuggerForm(request.GET if searched else None, initial=initial, user=request_user(request))
    hits: list[Any] = []
    error = ""
    if searched and form.is_valid():
        try:
            ids = repository_ids_for_user(user=request_user(request), repository_ids=form.cleaned_data["repository"] or None)
            hits = search_chunks(
                query=form.cleaned_data["q"], repository_ids=ids, limit=form.cleaned_data["limit"] or 10,
                mode=form.cleaned_data["mode"] or "hybrid",
            )
        except ApplicationError as exc:
            error = exc.message
    return render(request, "knowledge/debugger.html", {"form": form, "hits": hits, "error": error, "searched": searched})

"""The sample app's page (mounted at the root)."""
from django.http import HttpRequest, HttpResponse
from django.urls import path

app_name = "sample"


def page(request: HttpRequest) -> HttpResponse:
    """A bare page, so the nav entry has somewhere to point."""
    return HttpResponse("sample page")


urlpatterns = [path("sample/", page, name="page")]

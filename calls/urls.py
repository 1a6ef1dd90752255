"""HTTP URLs of the calls app: the REST API under api/, the pages at the root."""

from django.urls import include, path

urlpatterns = [
    path("api/", include("calls.api.urls")),
    path("", include("calls.web.urls")),
]

"""HTTP URLs of the calls app: REST API (and later the dashboard and demo page)."""

from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

urlpatterns = [
    path("api/auth/token/", obtain_auth_token, name="api-token"),
]

from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path


def home(request):
    return HttpResponse("The host site's own home page.")


urlpatterns = [
    path("", home),
    path("admin/", admin.site.urls),
    # Calling: REST API under calling/api/, the dashboard and demo pages under calling/.
    path("calling/", include("calls.urls")),
]

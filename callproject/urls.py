from django.contrib import admin
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("calls.urls")),
]

# Static files (the demo page's JS and CSS) under plain daphne while DEBUG is on;
# in production collectstatic and the web server or WhiteNoise serve them.
urlpatterns += staticfiles_urlpatterns()

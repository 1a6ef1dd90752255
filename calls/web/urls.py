from django.urls import path

from . import views

urlpatterns = [
    path("", views.phone, name="calls-phone"),
    path("dashboard/", views.dashboard, name="calls-dashboard"),
]

"""The demo page (call someone from the browser) and the staff's live dashboard."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


def _ring_time(request):
    """`?ring_time=N` pre-fills the page's ring time (1-180 s); default 30."""
    try:
        value = int(request.GET.get("ring_time", 30))
    except ValueError:
        return 30
    return min(max(value, 1), 180)


@login_required
@ensure_csrf_cookie
def phone(request):
    """The demo page: who is online, call them, answer calls, recent calls."""
    return render(request, "calls/phone.html", {"ring_time": _ring_time(request)})


@login_required
@ensure_csrf_cookie
def dashboard(request):
    """Live calls and online users for staff (others: 403, anonymous: login page)."""
    if not request.user.is_staff:
        raise PermissionDenied("The dashboard is for staff.")
    return render(request, "calls/dashboard.html")

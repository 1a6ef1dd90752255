"""The REST API (DATA.md): reads through selectors, writes through services."""

from datetime import datetime, time, timezone as dt_timezone

from channels.exceptions import ChannelFull
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from calls import selectors, services
from calls.models import Call
from registrations import selectors as registration_selectors
from registrations.models import Registration

from .filters import CallFilter, RegistrationFilter
from .serializers import (
    CallDetailSerializer,
    CallSerializer,
    DetailSerializer,
    HangupAcceptedSerializer,
    HangupRequestSerializer,
    RegistrationSerializer,
    StatsQuerySerializer,
    StatsSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)

BAD_QUERY = OpenApiResponse(OpenApiTypes.OBJECT, description="A filter value is invalid.")
DENIED = OpenApiResponse(DetailSerializer, description="Not authenticated, or not allowed.")
NOT_FOUND = OpenApiResponse(DetailSerializer, description="No such call, or not a party to it.")
NO_PAGE = OpenApiResponse(DetailSerializer, description="No such page.")
UNSUPPORTED_BODY = OpenApiResponse(DetailSerializer,
                                   description="The body is not JSON, a form or multipart form data.")


class Pagination(PageNumberPagination):
    page_size = 50


class ApiDefaults:
    """The API's own auth, permissions, pagination, filters and schema class, so that it
    behaves the same in a host site whatever its REST_FRAMEWORK setting says."""

    authentication_classes = [SessionAuthentication, TokenAuthentication]
    permission_classes = [IsAuthenticated]
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    schema = AutoSchema()


def list_responses(serializer):
    return {200: serializer(many=True), 400: BAD_QUERY, 403: DENIED, 404: NO_PAGE}


@extend_schema_view(
    list=extend_schema(summary="Call history, newest first", responses=list_responses(CallSerializer)),
    retrieve=extend_schema(summary="One call with its legs and events",
                           responses={200: CallDetailSerializer, 403: DENIED, 404: NOT_FOUND}),
)
class CallViewSet(ApiDefaults, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Calls: staff see all, other users the calls they are a party to."""

    serializer_class = CallSerializer
    filterset_class = CallFilter
    ordering_fields = ["started_at", "answered_at", "ended_at", "state", "hangup_code", "callee"]
    lookup_field = "call_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular, building the schema
            return Call.objects.none()
        calls = selectors.visible_calls(self.request.user).select_related("caller", "answered_by")
        if self.action == "retrieve":
            calls = calls.prefetch_related("legs__user", "events")
        return calls

    def get_serializer_class(self):
        return CallDetailSerializer if self.action == "retrieve" else CallSerializer

    @extend_schema(summary="Live calls (not ended), newest first", responses=list_responses(CallSerializer))
    @action(detail=False)
    def live(self, request):
        calls = selectors.live_calls(request.user).select_related("caller", "answered_by")
        page = self.paginate_queryset(self.filter_queryset(calls))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Hang up a live call",
        description="The parties get the `hangup` event with code 0, or the given code and reason.",
        request=HangupRequestSerializer,
        responses={
            202: HangupAcceptedSerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Invalid body."),
            403: DENIED,
            404: NOT_FOUND,
            409: OpenApiResponse(DetailSerializer, description="The call already ended."),
            415: UNSUPPORTED_BODY,
            503: OpenApiResponse(DetailSerializer, description="The server running the call is not taking commands."),
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def hangup(self, request, call_id=None):
        call = get_object_or_404(selectors.visible_calls(request.user), call_id=call_id)
        body = HangupRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if call.state == Call.State.ENDED:
            return Response({"detail": "The call already ended."}, status=status.HTTP_409_CONFLICT)
        try:
            services.request_hangup(call, user=request.user, code=body.validated_data.get("code"),
                                    reason=body.validated_data.get("reason"))
        except ChannelFull:
            return Response({"detail": "The server running the call is not taking commands."},
                            status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"call_id": call.call_id, "detail": "Hangup requested."},
                        status=status.HTTP_202_ACCEPTED)


@extend_schema_view(get=extend_schema(summary="Sessions (registrations)",
                                      responses=list_responses(RegistrationSerializer)))
class RegistrationList(ApiDefaults, generics.ListAPIView):
    """Registrations: staff see all, other users their own."""

    serializer_class = RegistrationSerializer
    filterset_class = RegistrationFilter
    ordering_fields = ["connected_at", "last_seen_at", "disconnected_at", "session_id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Registration.objects.none()
        return registration_selectors.visible_registrations(self.request.user)


def start_of_today():
    today = timezone.now().astimezone(dt_timezone.utc).date()
    return datetime.combine(today, time.min, tzinfo=dt_timezone.utc)


class StatsView(ApiDefaults, APIView):
    """Counts of live calls and online sessions, and of the calls over a window."""

    @extend_schema(
        summary="Call and session counts",
        parameters=[StatsQuerySerializer],
        responses={200: StatsSerializer, 400: BAD_QUERY, 403: DENIED},
    )
    def get(self, request):
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        since = query.validated_data.get("since") or start_of_today()
        stats = selectors.call_stats(selectors.visible_calls(request.user), since)
        stats["online_users"], stats["online_sessions"] = registration_selectors.online_counts()
        return Response(StatsSerializer(stats).data)


class TokenView(ObtainAuthToken):
    """DRF's token view (open to anyone), with its real request and responses in the schema."""

    schema = AutoSchema()

    @extend_schema(
        summary="Get the API token of a user",
        auth=[],
        request=TokenRequestSerializer,
        responses={200: TokenSerializer,
                   400: OpenApiResponse(OpenApiTypes.OBJECT, description="Bad credentials."),
                   415: UNSUPPORTED_BODY},
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

"""Query filters of the calls and registrations lists (DATA.md)."""

import re

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field

from calls import selectors
from calls.models import Call
from registrations.models import Registration

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class StrictIntegerField(forms.IntegerField):
    """Digits only: Django's IntegerField also takes "1.0" and " 1"."""

    def to_python(self, value):
        if value not in self.empty_values and not re.fullmatch(r"[+-]?[0-9]+", str(value)):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


@extend_schema_field({"type": "integer", "minimum": INT32_MIN, "maximum": INT32_MAX})
class IntegerFilter(django_filters.NumberFilter):
    field_class = StrictIntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", INT32_MIN)
        kwargs.setdefault("max_value", INT32_MAX)
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "boolean"})
class StrictBooleanFilter(django_filters.Filter):
    """`true` or `false`; anything else is a 400 (django-filter's BooleanFilter ignores it)."""

    field_class = forms.TypedChoiceField

    def __init__(self, *args, **kwargs):
        kwargs.update(choices=[("true", "true"), ("false", "false")],
                      coerce=lambda value: value == "true", empty_value=None)
        super().__init__(*args, **kwargs)


def username_field(prefix):
    return f"{prefix}__{get_user_model().USERNAME_FIELD}"


class CallFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=Call.State.choices)
    user = django_filters.CharFilter(method="filter_user", label="either party (username)")
    caller = django_filters.CharFilter(field_name=username_field("caller"), label="caller (username)")
    callee = django_filters.CharFilter(label="the `callee` string as given")
    hangup_code = IntegerFilter()
    started_after = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = django_filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = Call
        fields = []

    def filter_user(self, queryset, name, value: str):
        return selectors.calls_with_party(queryset, value)


class RegistrationFilter(django_filters.FilterSet):
    online = StrictBooleanFilter(field_name="disconnected_at", lookup_expr="isnull",
                                 label="session still live")
    user = django_filters.CharFilter(field_name=username_field("user"), label="username")
    protocol = django_filters.ChoiceFilter(choices=Registration.Protocol.choices)

    class Meta:
        model = Registration
        fields = []

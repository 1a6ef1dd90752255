"""The call policy hook: who may call whom (CALLS["CALL_POLICY"], default: everyone)."""

from django.contrib.auth import get_user_model
from django.utils.module_loading import import_string

from .conf import calls_settings


def refusal(caller_pk, callee, callee_type):
    """None when the call is allowed; else the reason the site's policy gives for refusing it.

    The policy is `policy(caller_user, callee, callee_type)` returning True/None
    (allow), False (refuse) or a string (refuse, with that reason).
    """
    if not calls_settings.CALL_POLICY:
        return None
    caller = get_user_model()._default_manager.get(pk=caller_pk)
    verdict = import_string(calls_settings.CALL_POLICY)(caller, callee, callee_type)
    if verdict is None or verdict is True:
        return None
    return verdict if isinstance(verdict, str) and verdict else "call not allowed by the site's policy"

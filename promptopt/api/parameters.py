"""Query parameters, checked: a bad value is a 400 that names the parameter."""

from rest_framework import exceptions


def bool_param(request, name):
    raw = request.query_params.get(name, "").lower()
    if raw not in ("", "true", "false", "1", "0"):
        raise exceptions.ValidationError({name: ["true or false."]})
    return raw in ("true", "1")


def choice_param(request, name, choices):
    raw = request.query_params.get(name, "")
    if raw and raw not in choices:
        raise exceptions.ValidationError({name: [f"One of {', '.join(choices)}."]})
    return raw or None


def int_param(request, name):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise exceptions.ValidationError({name: ["A whole number, please."]})
    return int(raw)

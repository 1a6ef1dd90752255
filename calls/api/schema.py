"""drf-spectacular hooks: make the generated schema say what the API really does."""


def allow_empty_query_values(result, generator, request, public):
    """An empty query value (`?state=`) means "not given" in DRF and django-filter: say so."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter.get("in") == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
    return result

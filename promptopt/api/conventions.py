"""What every API view shares: pagination, the checks of the URL every request gets, input checked by a serializer."""

from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


class ApiConventions:
    """Mixed into every APIView of the API (before APIView). This module cannot import APIView: DRF imports it
    from its settings while rest_framework.views is still loading."""

    pagination_class = Pagination  # also what tells drf-spectacular to document list responses as pages

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # PostgreSQL cannot hold a NUL character in text: a NUL in a lookup would be its error, a 500.
        parts = [str(value) for value in kwargs.values()]
        parts += [text for key, values in request.query_params.lists() for text in (key, *values)]
        if any("\x00" in part for part in parts):
            raise exceptions.ValidationError("The URL holds a NUL character.")
        if any(isinstance(value, int) and value > 2**63 - 1 for value in kwargs.values()):
            raise exceptions.NotFound("No such object: the id is larger than any id.")  # the database would fail

    def paginated(self, queryset, serializer_class):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        data = serializer_class(page, many=True, context={"request": self.request}).data
        return paginator.get_paginated_response(data)


def valid_input(serializer_class, request, **context):
    """The request body checked by an input serializer (a 400 with field errors otherwise)."""
    serializer = serializer_class(data=request.data, context={"request": request, **context})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data

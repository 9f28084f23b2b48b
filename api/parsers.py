"""The API's JSON parser: DRF's, plus refusing JSON PostgreSQL cannot store (NUL, lone
surrogates) or that is nested too deeply to walk."""

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DrfJSONParser

from workflows.text import find_unstorable, loads_json


class JSONParser(DrfJSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = loads_json(stream.read().decode(encoding))
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        problem = find_unstorable(data)
        if problem:
            raise ParseError(problem[1])
        return data

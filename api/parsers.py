"""The API's JSON parser: DRF's, plus refusing text PostgreSQL cannot store."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DrfJSONParser

from workflows.text import find_nul, nul_message


class JSONParser(DrfJSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        where = find_nul(data)
        if where:
            raise ParseError(nul_message(where))
        return data

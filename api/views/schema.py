"""`/api/schema/` readable in a browser: JSON as `application/json` by default and for
`?format=json` (browsers display it), YAML for `?format=yaml`, and the OpenAPI media types
(`application/vnd.oai.openapi`, `...+json`) for clients that ask for them."""

from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from drf_spectacular.views import SpectacularAPIView


class ReadableJsonRenderer(OpenApiJsonRenderer):
    media_type = "application/json"


class ReadableYamlRenderer(OpenApiYamlRenderer):
    media_type = "text/plain"
    charset = "utf-8"


class SchemaView(SpectacularAPIView):
    permission_classes = []
    renderer_classes = [ReadableJsonRenderer, ReadableYamlRenderer, OpenApiJsonRenderer,
                        OpenApiYamlRenderer]

from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from api.views.health import healthz, metrics, readyz
from api.views.hooks import hook
from api.views.schema import SchemaView
from studio import views as studio_views

# `/` leads a newcomer to the Studio when it is installed, else to the API documentation.
HOME = "/studio/" if apps.is_installed("studio") else "/api/docs/"

urlpatterns = [
    path("", RedirectView.as_view(url=HOME, permanent=False), name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("api.urls")),
    path("studio/", include("studio.urls")),
    path("accounts/login/", studio_views.StudioLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[]),
         name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema", permission_classes=[],
                                                    template_name="api/redoc.html"),
         name="redoc"),
    path("hooks/<slug:tenant>/<path:path>", hook, name="hook"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
]

handler400 = "api.errors.handler400"
handler403 = "api.errors.handler403"
handler404 = "api.errors.handler404"
handler500 = "api.errors.handler500"

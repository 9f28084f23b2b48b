from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from api.views import definitions as d

token_obtain = extend_schema_view(post=extend_schema(summary="Get an access and refresh token"))(
    TokenObtainPairView
)
token_refresh = extend_schema_view(post=extend_schema(summary="Refresh an access token"))(
    TokenRefreshView
)

urlpatterns = [
    path("auth/token/", token_obtain.as_view(), name="token-obtain"),
    path("auth/token/refresh/", token_refresh.as_view(), name="token-refresh"),
    path("definitions/", d.DefinitionListView.as_view(), name="definition-list"),
    path("definitions/validate/", d.DefinitionValidateView.as_view(), name="definition-validate"),
    path("definitions/<str:definition_id>/", d.DefinitionDetailView.as_view(),
         name="definition-detail"),
    path("definitions/<str:definition_id>/publish/", d.DefinitionPublishView.as_view(),
         name="definition-publish"),
    path("definitions/<str:definition_id>/retract/", d.DefinitionRetractView.as_view(),
         name="definition-retract"),
    path("definitions/<str:definition_id>/versions/", d.DefinitionVersionListView.as_view(),
         name="definition-versions"),
    path("definitions/<str:definition_id>/versions/<int:version>/",
         d.DefinitionVersionDetailView.as_view(), name="definition-version"),
]

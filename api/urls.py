from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from api.authentication import VersionedTokenObtainPairSerializer, VersionedTokenRefreshSerializer
from api.views import auth as a
from api.views import definitions as d
from api.views import instances as i
from api.views import secrets as s
from api.views.activity_types import ActivityTypeListView
from api.views.audit import AuditListView
from api.views.definitions import ERRORS
from api.views.index import ApiIndexView
from api.views.instance_counts import InstanceCountsView
from api.views.me import MeView
from api.views.operations import DeadLetterListView, DeadLetterRedriveView, WorkerListView

_TOKEN_ERRORS = {400: ERRORS[400], 401: ERRORS[401]}
token_obtain = extend_schema_view(post=extend_schema(
    summary="Get an access and refresh token",
    responses={200: VersionedTokenObtainPairSerializer, **_TOKEN_ERRORS}))(TokenObtainPairView)
token_refresh = extend_schema_view(post=extend_schema(
    summary="Refresh an access token (the refresh token rotates: use the new one next time)",
    responses={200: VersionedTokenRefreshSerializer, **_TOKEN_ERRORS}))(TokenRefreshView)

urlpatterns = [
    path("", ApiIndexView.as_view(), name="api-index"),
    path("auth/token/", token_obtain.as_view(), name="token-obtain"),
    path("auth/token/refresh/", token_refresh.as_view(), name="token-refresh"),
    path("me/", MeView.as_view(), name="me"),
    path("auth/token/revoke/", a.TokenRevokeView.as_view(), name="token-revoke"),
    path("auth/tokens/revoke-all/", a.OwnTokensRevokeView.as_view(), name="tokens-revoke-own"),
    path("members/<str:username>/revoke-tokens/", a.MemberTokensRevokeView.as_view(),
         name="member-tokens-revoke"),
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
    path("definitions/<str:definition_id>/execute/", i.DefinitionExecuteView.as_view(),
         name="definition-execute"),
    path("definitions/<str:definition_id>/dispatch/", i.DefinitionDispatchView.as_view(),
         name="definition-dispatch"),
    path("instances/", i.InstanceListView.as_view(), name="instance-list"),
    path("instances/counts/", InstanceCountsView.as_view(), name="instance-counts"),
    path("instances/<uuid:instance_id>/", i.InstanceDetailView.as_view(), name="instance-detail"),
    path("instances/<uuid:instance_id>/cancel/", i.InstanceCancelView.as_view(),
         name="instance-cancel"),
    path("instances/<uuid:instance_id>/suspend/", i.InstanceSuspendView.as_view(),
         name="instance-suspend"),
    path("instances/<uuid:instance_id>/resume/", i.InstanceResumeView.as_view(),
         name="instance-resume"),
    path("instances/<uuid:instance_id>/retry/", i.InstanceRetryView.as_view(),
         name="instance-retry"),
    path("instances/<uuid:instance_id>/archive/", i.InstanceArchiveView.as_view(),
         name="instance-archive"),
    path("instances/<uuid:instance_id>/journal/", i.InstanceJournalView.as_view(),
         name="instance-journal"),
    path("instances/<uuid:instance_id>/activity-executions/",
         i.InstanceActivityExecutionsView.as_view(), name="instance-activity-executions"),
    path("instances/<uuid:instance_id>/bookmarks/", i.InstanceBookmarksView.as_view(),
         name="instance-bookmarks"),
    path("events/<str:name>/", i.EventPublishView.as_view(), name="event-publish"),
    path("bookmarks/<uuid:bookmark_id>/resume/", i.BookmarkResumeView.as_view(),
         name="bookmark-resume"),
    path("secrets/", s.SecretListView.as_view(), name="secret-list"),
    path("secrets/<str:name>/", s.SecretDetailView.as_view(), name="secret-detail"),
    path("activity-types/", ActivityTypeListView.as_view(), name="activity-types"),
    path("workers/", WorkerListView.as_view(), name="worker-list"),
    path("dead-letters/", DeadLetterListView.as_view(), name="dead-letter-list"),
    path("dead-letters/<uuid:dead_letter_id>/redrive/", DeadLetterRedriveView.as_view(),
         name="dead-letter-redrive"),
    path("audit/", AuditListView.as_view(), name="audit-list"),
]

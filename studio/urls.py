from django.urls import path, re_path

from studio import views

app_name = "studio"

urlpatterns = [
    path("", views.studio_app, name="home"),
    # Deep links (/studio/instances/<id>, /studio/definitions/<id>) load the same page.
    re_path(r"^(?P<path>(instances|definitions|operations)(/.*)?)$", views.studio_app,
            name="app"),
]

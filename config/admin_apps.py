"""`django.contrib.admin` with Weft's superusers-only site (see config.admin_site). Kept apart
from the site so that loading the app does not import auth models before apps are ready."""

from django.contrib.admin.apps import AdminConfig


class WeftAdminConfig(AdminConfig):
    default_site = "config.admin_site.SuperuserAdminSite"

"""Studio pages: one shell page for the app (it reads and writes through the REST API) and the
sign-in page. Both carry the Studio's Content-Security-Policy."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie

from studio.assets import asset
from studio.csp import studio_csp


@studio_csp
@login_required
@ensure_csrf_cookie
def studio_app(request, path: str = ""):
    return render(request, "studio/index.html", {
        "app_js": asset("app.js"), "app_css": asset("app.css"),
    })


@method_decorator(studio_csp, name="dispatch")
class StudioLoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True
    extra_context = {"app_css": asset("app.css")}

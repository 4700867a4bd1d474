"""A complete Django project in one module (settings.configure, urls, views),
served through django.core.wsgi.get_wsgi_application."""
import hashlib
import os

from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="it-django-not-secret",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[],
        MIDDLEWARE=[
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
        USE_TZ=True,
        DATABASES={},
        # uploads above 1 MiB go to a temporary file: the streaming path
        FILE_UPLOAD_MAX_MEMORY_SIZE=1024 * 1024,
        DATA_UPLOAD_MAX_MEMORY_SIZE=10 * 1024 * 1024,
        FILE_UPLOAD_TEMP_DIR=os.environ.get("TMPDIR") or None,
    )

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse  # noqa: E402
from django.middleware.csrf import get_token  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


def index(request):
    return HttpResponse("django index")


def article(request, year, slug):
    return JsonResponse({"year": year, "slug": slug, "path": request.path,
                         "path_info": request.path_info,
                         "script_name": request.META.get("SCRIPT_NAME")})


@csrf_exempt
def form(request):
    if request.method != "POST":
        return HttpResponseBadRequest("POST only")
    return JsonResponse({"name": request.POST.get("name"),
                         "tags": request.POST.getlist("tag")})


def protected(request):  # NOT csrf-exempt: a POST without a token gets 403
    return HttpResponse("should need a CSRF token")


@csrf_exempt
def upload(request):
    f = request.FILES.get("file")
    if f is None:
        return HttpResponseBadRequest("no file")
    h = hashlib.sha256()
    size = 0
    for chunk in f.chunks():
        h.update(chunk)
        size += len(chunk)
    return JsonResponse({"filename": f.name, "size": size, "sha256": h.hexdigest(),
                         "note": request.POST.get("note"),
                         "in_memory": type(f).__name__})


def query(request):
    return JsonResponse({k: request.GET.getlist(k) for k in request.GET})


def meta(request):
    return JsonResponse({"host": request.get_host(), "scheme": request.scheme,
                         "remote_addr": request.META.get("REMOTE_ADDR"),
                         "user_agent": request.META.get("HTTP_USER_AGENT")})


def secure(request):
    """A form's CSRF token (and its cookie), whether Django sees HTTPS, and the
    protocol and host it sees."""
    return JsonResponse({"token": get_token(request), "is_secure": request.is_secure(),
                         "scheme": request.scheme,
                         "absolute": request.build_absolute_uri(),
                         "protocol": request.META.get("SERVER_PROTOCOL"),
                         "host": request.get_host(),
                         "http_host": request.META.get("HTTP_HOST")})


urlpatterns = [
    path("", index),
    path("articles/<int:year>/<slug:slug>/", article),
    path("form/", form),
    path("protected/", protected),
    path("upload/", upload),
    path("query/", query),
    path("meta/", meta),
    path("secure/", secure),
]

application = get_wsgi_application()

"""A minimal one-file Django project for wsgate:

    build/wsgate --pythonpath examples django_app

For a real project, point wsgate at its wsgi module instead:
    build/wsgate --chdir /path/to/project myproject.wsgi:application
"""
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="change-me",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


def index(request):
    return HttpResponse("Hello from Django on wsgate!")


def hello(request, name):
    return JsonResponse({"greeting": "Hello, %s!" % name})


urlpatterns = [
    path("", index),
    path("hello/<str:name>/", hello),
]

application = get_wsgi_application()

"""The Flask app of it_flask.py and the Django project of it_django.py in one process,
so one wsgate (and one front server in front of it) serves the tests of both
(test_uwsgi_apps.py): a request with the header X-App: django goes to Django, every
other one to Flask. The environ is passed on untouched (no path is moved into
SCRIPT_NAME, as a path-prefix dispatcher would), so each app sees what it would see
alone."""
import it_django
import it_flask


def application(environ, start_response):
    if environ.get("HTTP_X_APP") == "django":
        return it_django.application(environ, start_response)
    return it_flask.application(environ, start_response)

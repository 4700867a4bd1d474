"""A small Flask app served by wsgate in test_flask.py."""
import hashlib

from flask import Flask, abort, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return "flask index"


@app.route("/hello/<name>")
def hello(name):
    return "Hello, %s!" % name


@app.route("/add/<int:a>/<int:b>")
def add(a, b):
    return jsonify(sum=a + b)


@app.route("/path/<path:rest>")
def path(rest):
    return jsonify(rest=rest, script_name=request.script_root, path=request.path)


@app.route("/form", methods=["POST"])
def form():
    return jsonify(name=request.form.get("name"), tags=request.form.getlist("tag"))


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files.get("file")
    if f is None:
        abort(400)
    data = f.read()
    return jsonify(filename=f.filename, size=len(data),
                   sha256=hashlib.sha256(data).hexdigest(),
                   field=request.form.get("note"))


@app.route("/json", methods=["POST"])
def json_echo():
    data = request.get_json()
    return jsonify(received=data, n=len(data.get("items", [])))


@app.route("/query")
def query():
    return jsonify(args={k: request.args.getlist(k) for k in request.args})


@app.route("/status/<int:code>")
def status(code):
    return ("status %d" % code, code)


@app.route("/cookie")
def cookie():
    resp = app.response_class("cookie set")
    resp.set_cookie("a", "1")
    resp.set_cookie("b", "2")
    return resp


application = app

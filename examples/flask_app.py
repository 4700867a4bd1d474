"""A minimal Flask app for wsgate:

    build/wsgate --pythonpath examples flask_app:app
"""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return "Hello from Flask on wsgate!"


@app.route("/hello/<name>")
def hello(name):
    return jsonify(greeting="Hello, %s!" % name)


@app.route("/echo", methods=["POST"])
def echo():
    return jsonify(form=request.form.to_dict(), json=request.get_json(silent=True))

"""Benchmark app `flask`: a Flask hello route, the framework's cost on top of the
server's (python3-flask)."""
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Hello, World!\n"

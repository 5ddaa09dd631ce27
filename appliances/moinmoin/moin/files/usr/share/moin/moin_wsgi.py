"""WSGI application of moin.service: the wiki that MOINCFG configures, behind a local proxy.

A request from a trusted proxy (the nginx site on this host) carries the visitor's address in
X-Forwarded-For and the scheme in X-Forwarded-Proto: moin then sees them as REMOTE_ADDR and the URL
scheme. From any other peer these headers are ignored, so nobody can pose as another address.

SVG files are served as images: MoinMoin 2.0.0b5's moin.utils.mimetype registers, after its own
`.svg` entry, every file pattern of Pygments' lexers, and XmlLexer claims `*.svg` for text/xml;
browsers do not show such a file as an image, so the wiki's logo, on every page, was broken.
"""

import mimetypes

from werkzeug.middleware.proxy_fix import ProxyFix

import moin.utils.mimetype  # noqa: F401 (its import registers the wrong type, once)
from moin.app import create_app

mimetypes.add_type("image/svg+xml", ".svg", strict=True)

# As forwarded_allow_ips in /etc/moin/gunicorn.conf.py
TRUSTED_PROXIES = frozenset({"127.0.0.1"})


def behind_proxy(app, trusted=TRUSTED_PROXIES):
    # x_for=1: the last address, the one the proxy appended; the ones before it the client wrote.
    proxied = ProxyFix(app, x_for=1, x_proto=1)

    def application(environ, start_response):
        if environ.get("REMOTE_ADDR") in trusted:
            return proxied(environ, start_response)
        return app(environ, start_response)

    return application


application = behind_proxy(create_app())

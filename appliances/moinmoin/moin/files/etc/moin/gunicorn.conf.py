# gunicorn settings of moin.service (see `/opt/moin/bin/gunicorn --help`).

# Only the local proxy (/etc/moin/nginx-site.conf) talks to the wiki.
bind = "127.0.0.1:8000"
workers = 2
timeout = 120
# The WSGI module, moin_wsgi.py
pythonpath = "/usr/share/moin"
# Believe X-Forwarded-Proto and friends only from the proxy on this host; moin_wsgi does the same
# for X-Forwarded-For, so that moin sees the visitor's address.
forwarded_allow_ips = "127.0.0.1"
# No control socket in the wiki's home directory.
control_socket_disable = True
# To the journal
accesslog = "-"
errorlog = "-"

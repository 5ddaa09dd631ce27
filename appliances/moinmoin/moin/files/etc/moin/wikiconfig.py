"""MoinMoin configuration of the wiki that the moin package runs, in /var/lib/moin/wiki.

The answers to the package's debconf questions are in /etc/moin/moin.conf, which the package
writes (dpkg-reconfigure moin). /etc/moin/local.conf, in the same syntax, is the site's own: the
package never writes it, and its values win (an appliance keeps its settings there: SITENAME,
ADMIN_EMAIL, FRONT_PAGE, MAIL_SMARTHOST, MAIL_FROM). The secret key is in /etc/moin/secret-key (root:moin, 0640),
made at installation. Everything else is set here, and may be changed: this file is a conffile.
See https://moin-20.readthedocs.io/en/latest/admin/configure.html for the settings.

Every moin command must run from /var/lib/moin: moin 2.0.0b5 looks for `wiki/index` relative to
its working directory, whatever index_storage says. `moin` (/usr/bin/moin) and moin.service do.
"""

from __future__ import annotations

import os
import shlex

import moin.contrib
from moin.config import AclConfig, IndexStorageConfig
from moin.config.default import DefaultConfig
from moin.constants.namespaces import (
    NAMESPACE_DEFAULT,
    NAMESPACE_HELP_COMMON,
    NAMESPACE_HELP_EN,
    NAMESPACE_USERPROFILES,
    NAMESPACE_USERS,
)
from moin.storage import create_mapping
from moin.utils import get_xstatic_module_path_map
from moin.utils.interwiki import InterWikiMap

CONFIG_DIR = "/etc/moin"
STATE_DIR = "/var/lib/moin"


def read_settings(path: str) -> dict[str, str]:
    """The KEY='value' lines of a file in shell syntax, as the package writes them."""
    settings = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            key, sep, value = line.strip().partition("=")
            if sep and key.isidentifier():
                settings[key] = " ".join(shlex.split(value, comments=True))
    return settings


def read_secret(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as secret:
            return secret.read().strip()
    except PermissionError as error:
        raise SystemExit(f"error: cannot read `{path}`: run `moin` as root or as the user moin") from error


SETTINGS = read_settings(os.path.join(CONFIG_DIR, "moin.conf"))
if os.path.exists(os.path.join(CONFIG_DIR, "local.conf")):
    SETTINGS.update(read_settings(os.path.join(CONFIG_DIR, "local.conf")))
ADMIN = SETTINGS.get("ADMIN_NAME", "")
ADMIN_EMAIL = SETTINGS.get("ADMIN_EMAIL", "")
# public-read: All may read; private: only logged-in users (Known) may.
ANONYMOUS = "All:read" if SETTINGS.get("ACL_POLICY", "public-read") == "public-read" else "All:"


def acl(hierarchic: bool = False) -> AclConfig:
    return AclConfig(
        before=f"{ADMIN}:read,write,create,destroy,admin" if ADMIN else "",
        default=f"Known:read,write,create {ANONYMOUS}",
        after="",
        hierarchic=hierarchic,
    )


class Config(DefaultConfig):
    wikiconfig_dir = CONFIG_DIR
    instance_dir = os.path.join(STATE_DIR, "wiki")
    data_dir = os.path.join(instance_dir, "data")
    index_storage = IndexStorageConfig(name="FileStorage", args=(os.path.join(instance_dir, "index"),), kwargs={})

    # Custom logos, CSS and templates (copy moin's templates/snippets.html here to change the logo).
    wiki_local_dir = os.path.join(CONFIG_DIR, "wiki_local")
    template_dirs = [wiki_local_dir]
    serve_files = {"wiki_local": wiki_local_dir, "external_docs": "https://moin-20.readthedocs.io/en/latest/"}
    mod_names = ["font_awesome", "svgedit_moin", "pygments"]
    serve_files.update(get_xstatic_module_path_map(mod_names))

    sitename = SETTINGS.get("SITENAME", "MoinMoin")
    # Stored in every revision: made once, from the first wiki name, and never changed by the package.
    interwikiname = SETTINGS.get("INTERWIKINAME", "MoinMoin")
    try:
        interwiki_map = InterWikiMap.from_file(
            os.path.join(os.path.dirname(moin.contrib.__file__), "intermap.txt")
        ).iwmap
    except FileNotFoundError:
        interwiki_map = {}
    interwiki_map[interwikiname] = "/"
    interwiki_map["Self"] = "/"

    timezone_default = "UTC"
    theme_default = "topside"
    edit_locking_policy = "lock"
    edit_lock_time = 20

    admin_emails = [ADMIN_EMAIL] if ADMIN_EMAIL else []
    email_tracebacks = False
    # Mail (password recovery) goes out when both are set, e.g. "localhost" and "wiki@example.org".
    mail_smarthost = SETTINGS.get("MAIL_SMARTHOST") or None
    mail_from = SETTINGS.get("MAIL_FROM") or None

    acl_functions = f"{ADMIN}:superuser" if ADMIN else ""
    registration_only_by_superuser = True
    registration_hint = f"To get an account, write to {ADMIN_EMAIL}." if ADMIN_EMAIL else ""
    user_email_verification = False

    uri = f"stores:fs:{data_dir}/%(backend)s/%(kind)s"
    namespaces = {
        NAMESPACE_DEFAULT: "default",
        NAMESPACE_USERS: "users",
        NAMESPACE_USERPROFILES: "userprofiles",
        NAMESPACE_HELP_COMMON: "help-common",
        NAMESPACE_HELP_EN: "help-en",
    }
    backends = {"default": uri, "users": uri, "userprofiles": uri, "help-common": uri, "help-en": uri}
    acls = {
        NAMESPACE_DEFAULT: acl(),
        NAMESPACE_USERS: acl(hierarchic=True),
        # user profiles hold secrets: nobody reads them through the wiki
        NAMESPACE_USERPROFILES: AclConfig(before="All:", default="", after="", hierarchic=False),
        NAMESPACE_HELP_COMMON: acl(),
        NAMESPACE_HELP_EN: acl(),
    }
    namespace_mapping, backend_mapping, acl_mapping = create_mapping(uri, namespaces, backends, acls)
    root_mapping = {NAMESPACE_USERS: "UserHome"}
    default_root = SETTINGS.get("FRONT_PAGE") or "Home"


# Flask settings
MOINCFG = Config
SECRET_KEY = read_secret(os.path.join(CONFIG_DIR, "secret-key"))
DEBUG = False
TESTING = False
# The nginx site serves plain HTTP; set it to True where the proxy in front speaks HTTPS only.
SESSION_COOKIE_SECURE = False
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

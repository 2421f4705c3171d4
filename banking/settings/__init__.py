"""Settings entry point: ``DJANGO_ENV`` picks the module (local, production or test).

``DJANGO_SETTINGS_MODULE=banking.settings.<name>`` selects one directly as well.
"""
import os

_env = os.environ.get("DJANGO_ENV", "local").strip().lower()

if _env == "production":
    from .production import *  # noqa: F401,F403
elif _env == "test":
    from .test import *  # noqa: F401,F403
elif _env in ("local", "development", "dev", ""):
    from .local import *  # noqa: F401,F403
else:
    raise RuntimeError(f"DJANGO_ENV={_env!r} is not one of: local, production, test")

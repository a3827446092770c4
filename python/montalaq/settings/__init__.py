"""Settings from the environment (docs/semantics.md, "Settings"), with pydantic-settings::

    settings = Settings.from_env()          # os.environ; or from_env({"NOTIFY_DRY_RUN": "1"})

An invalid value raises :class:`SettingsError` (a ValueError) naming each variable, what is
expected and the value given; secrets are ``SecretStr``, masked in ``repr`` and never shown.
``model`` holds the fields, ``rules`` the checks of their values, ``environment`` how
variables are read (the ``MONTALAQ_`` prefix, typo warnings), ``errors`` the error's text.
"""

from __future__ import annotations

from montalaq.settings.errors import SettingsError
from montalaq.settings.model import Settings

__all__ = ["Settings", "SettingsError"]

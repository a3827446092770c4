"""``manage.py montalaq_db``, ``montalaq_health`` and ``montalaq_run``."""

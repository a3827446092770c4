"""Management commands of montalaq.django (``montalaq_db``, ``montalaq_health``, ``montalaq_run``)."""

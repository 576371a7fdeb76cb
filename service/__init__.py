"""The service side of hubmatch: configuration, the solve queue and its tasks, the worker and its supervisor.

The web layer (``api``) submits jobs and reads them; workers (``hubmatch worker``) run them. Both meet only in the
database (job rows, moved through ``models.lifecycle``) and on the broker (``service.queue``).
"""

"""The workbench pages, one module each: ``PATH``, ``TITLE``, ``layout(workbench)``, ``register(app, workbench)``."""

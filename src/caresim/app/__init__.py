"""The planning workbench: a local web app (Dash) over caresim's scenarios, care mixes, plans and run folders.

Start it with ``caresim-app`` (see ``caresim.app.server``). Pages live in ``caresim.app.pages``, one module each
(``PATH``, ``TITLE``, ``layout(workbench)``, ``register(app, workbench)``); long work runs in child processes
(``caresim.app.jobs``) and every result is an ordinary run folder under the output root.
"""

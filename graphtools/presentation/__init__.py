"""Presentation: what people look at.

``report`` renders the self-contained report.html (``plotting`` makes its figures, ``detection_page``
the page of a detection model), ``tensorboard`` writes the event files of every stage, ``dot`` draws
graphs as DOT, ``view`` serves the stages side by side in Model Explorer, and ``inspection`` describes
any model file (the ``inspect`` command and API).

It may import every stage below it (``core``, ``sources``, ``surgery``, ``conversion``,
``verification``) and the base modules; never workflow or cli.
"""

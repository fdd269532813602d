"""The graph core: what every stage shares about one model, and the two places models run.

Holds the editable ``Graph`` over one GraphDef (``graph``, its index ``_index``, ``tensors``, ``protos``),
op families (``ops``) and naming heuristics (``heuristics``), constant folding helpers (``constants``),
read-only analysis (``analysis`` with ``training_parts`` and ``endpoints``; ``describe`` for plain
descriptions), the one ``Signature`` per command (``signature``), seeded feeds (``feeds``), cutting a
graph at tensors (``cuts``), channels-first layouts (``layout``), files (``io``), user data
(``data``), running GraphDefs in TensorFlow behind the wall (``runtime``) and reading, running and
timing .tflite models in LiteRT (``tflite``, ``bench``).

It may import the base modules at the top of the package (``errors``, ``_tf``, ``guard``) and its own
modules; nothing from the stages above it (sources, surgery, conversion, verification, presentation,
workflow, cli).
"""

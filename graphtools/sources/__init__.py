"""Sources: every TF1 format in, a frozen GraphDef out, and the safety scan of what a model would run.

``freezing.freeze`` is the front door; ``checkpoint`` (a checkpoint with its meta graph, a directory, a
GraphDef beside a checkpoint), ``saved_model`` (v1) and ``keras`` (Keras-2 .h5) each read their format
and end in ``session`` (variables to constants inside a TF1 session, the outputs checked; also a live
session's ``freeze_session``). ``safety`` refuses graphs that would read or write files or run code
when executed, before anything runs them.

It may import ``core`` and the base modules; never surgery, conversion, verification, presentation,
workflow or cli. (The data flows sources -> surgery -> conversion -> verification -> presentation;
each stage may import the stages before it, never one after.)
"""

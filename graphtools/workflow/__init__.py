"""Workflow: the stages in a row, for one model or many.

``config`` is the one typed ``PipelineConfig`` that the CLI, a manifest entry and the Python API build
(validated once); ``stages.run_pipeline(config, progress=None)`` runs freeze -> strip -> audit ->
convert -> compare -> report for it and writes every output atomically; ``manifest`` runs many models,
each in its own worker process; ``conformance`` (with ``cases`` and ``conformance_plain``) measures
graphtools against plain TensorFlow on real models.

It may import every package below it and the base modules; never cli.
"""

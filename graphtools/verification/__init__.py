"""Verification: the TF graph against every .tflite model, and the verdicts.

``comparison`` runs both on the same data (differences, agreement, accuracy, latency, where they
diverge); ``perop`` follows the error op by op; ``detection_match`` matches detection models' boxes both
ways; ``verdict`` judges each model against the gates (ship / check / do not ship) and recommends one;
``budget`` finds the most quantized model that meets a budget; ``bundle`` writes the golden bundle
whose ``golden_verify.py`` (numpy and LiteRT only) checks a device.

It may import ``core``, ``sources``, ``surgery``, ``conversion`` and the base modules; never
presentation, workflow or cli.
"""

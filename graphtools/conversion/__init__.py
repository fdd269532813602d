"""Conversion: an inference GraphDef to .tflite models in every quantization mode.

``converter`` drives ``TFLiteConverter.from_frozen_graph`` with the signature's inputs, outputs and
shapes (float, dynamic, float16, int8, int16x8; ``quantize`` is the one table of modes). v1 recurrent
loops are lowered first: ``loops`` chooses a route per loop, ``loop_analysis`` holds what both routes
share (frames, trip counts), ``loop_while`` and ``loop_unroll`` the two rewrites; ``list_loops``
readies tf_keras While/TensorList loops. ``detection`` recognises Object Detection API SSD exports and
builds their TFLite_Detection_PostProcess form.

It may import ``core``, ``sources``, ``surgery`` and the base modules; never verification,
presentation, workflow or cli.
"""

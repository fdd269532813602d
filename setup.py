"""graphtools: legacy TensorFlow 1.x models -> verified TensorFlow Lite models."""
import re

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "([^"]+)"', open("graphtools/_version.py", encoding="utf-8").read()).group(1)

setup(
    name="graphtools",
    version=VERSION,  # (graphtools/_version.py: the one place)
    description="Freeze, strip, convert and verify legacy TensorFlow 1.x models for TensorFlow Lite",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["graphtools", "graphtools.*"]) + ["graphtools.fixtures"],
    # the bundled fixture ships inside the package, so `graphtools pipeline` runs anywhere
    package_dir={"graphtools.fixtures": "fixtures"},
    package_data={"graphtools.fixtures": ["digits.npz", "digits_cnn/*"]},
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "tf_keras>=2.16,<2.22",     # Keras-2 .h5 models and tf.compat.v1.layers under TF 2.x
        "tensorboard>=2.16",        # TF 2.21 no longer pulls it in; event files and the reader
        "numpy>=1.23",
        "protobuf>=4.21",
        "networkx>=3.0",
        "ai-edge-litert>=1.0",      # the maintained TFLite interpreter and flatbuffer schema
        "h5py>=3.0",                # Keras .h5 loading
        "matplotlib>=3.5",          # report.html's charts, confusion matrices and thumbnails (inline SVG/PNG)
    ],
    extras_require={
        # tf-slim: training graphs of the strip tests; pydot parses DOT output; ai-edge-quantizer:
        # the test that its static int8 recipe calibrates a model through graphtools' serving_default
        # ai-edge-model-explorer and netron: the tests that graphtools view serves the stages (and its fallback)
        "test": ["pytest>=7", "tf-slim>=1.1", "pydot>=2", "ai-edge-quantizer>=0.10", "ai-edge-model-explorer>=0.1.30",
                 "netron>=7"],
        "fixtures": ["scikit-learn>=1.0"],
        # graphtools view: the stages side by side in Model Explorer; Netron where it cannot be installed
        "view": ["ai-edge-model-explorer>=0.1.30"],
        "view-netron": ["netron>=7"],  # only to regenerate fixtures/ (python fixtures/make_fixtures.py)
    },
    entry_points={"console_scripts": ["graphtools=graphtools.cli:main"]},
)

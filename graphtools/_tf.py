"""Lazy TensorFlow import: only the commands that need TensorFlow pay for it."""
import os


def tf():
    """Import and return ``tensorflow``, with legacy Keras selected for ``tf.keras``.

    ``TF_USE_LEGACY_KERAS`` must be set before TensorFlow is first imported, so Keras-2
    (``tf_keras``) models and ``tf.compat.v1.layers`` code keep working under TF 2.x.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import sys

    if "tensorflow" in sys.modules or not _QUIET:
        import tensorflow

        _quiet_deprecations()  # (graphtools' own v1 calls; from the Python API too, as from the CLI)
    else:
        # TF's C++ start-up lines (oneDNN, CUDA stubs) ignore TF_CPP_MIN_LOG_LEVEL: hide fd 2 while importing.
        with _stderr_to_devnull():
            import tensorflow

        _silence(tensorflow)
    return tensorflow


def stderr_quiet():
    """Hide fd 2 (C++ chatter) when the CLI asked for quiet; a no-op otherwise."""
    import contextlib

    return _stderr_to_devnull() if _QUIET else contextlib.nullcontext()


class _stderr_to_devnull:
    def __enter__(self):
        import sys

        sys.stderr.flush()
        self.saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)
        return False


_QUIET = False


def _silence(tensorflow):
    import logging

    tensorflow.get_logger().setLevel(logging.ERROR)
    from tensorflow.python.util import deprecation

    deprecation._PRINT_DEPRECATION_WARNINGS = False


def _quiet_deprecations():
    from tensorflow.python.util import deprecation

    deprecation._PRINT_DEPRECATION_WARNINGS = False


def v1():
    """Return ``tf.compat.v1``."""
    return tf().compat.v1


def quiet():
    """Silence TensorFlow's C++, absl and Python logging (call before the first TF import)."""
    global _QUIET
    _QUIET = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # absl comes with TensorFlow; without it there is nothing to quiet
        pass

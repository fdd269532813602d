"""Surgery: a frozen graph made an inference graph, and proved to compute what it computed.

``passes/`` holds one rewrite per file (dropout, training subgraphs, batch-norm folding, bound flags,
cuts, splices, ...) and their runner; ``stripping`` runs strip's declared stages over a graph and checks
the result with ``equivalence`` (both graphs run on the same seeded inputs); ``audit`` says what would
make conversion fail or give a poor model.

It may import ``core``, ``sources`` (the safety scan) and the base modules; never conversion,
verification, presentation, workflow or cli.
"""

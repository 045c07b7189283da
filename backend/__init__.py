"""Buddy backend: targets, lowering pipelines and native codegen.

Modules: ``targets`` (the target table), ``pipeline`` (buddy-opt -> llc),
``link`` (.so / executables), ``abi`` (argument specs, dtypes, aligned buffers),
``cache`` (content-addressed artifacts), ``compiler`` (``buddy.compile``/``load``),
``cdriver`` (C test drivers for cross targets).
"""

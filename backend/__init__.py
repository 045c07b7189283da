"""Buddy backend: targets, lowering pipelines and native codegen."""
